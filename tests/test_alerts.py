"""Alerts on Kafka: which events are due (pure), and publishing them to the real broker:
keyed by event, once per change of state, tombstones, a broker outage caught up later."""

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from models.alert_rules import MESSAGE_COLUMNS, due, event_id, in_maintenance, parse_event_id
from schemas import ANOMALY_ALERTS, ANOMALY_EVENTS, ANOMALY_FEEDBACK, MAINTENANCE_WINDOWS, PREDICTION_RUNS, json_schema
from schemas.errors import UsageError
from schemas.time import TimeRange
from sensorwatch.cli import main
from sensorwatch.connectors.kafka import KafkaUnavailable
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q
from sensorwatch.operations.alerts import Published, publish_alerts, read_alerts
from sensorwatch.operations.feedback import add_maintenance, label_event

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
LEVELS = [2.0, 4.0]


def event(asset: str, minute: int, peak: float, is_open: bool, threshold: float = 1.0, length_s: int = 60,
          kind: str = "process", check: str | None = None) -> dict:
    start = T0 + timedelta(minutes=minute)
    return {"asset_id": asset, "event_start": start, "event_end": start + timedelta(seconds=length_s),
            "confirmed_at": start + timedelta(seconds=30), "intervals": length_s, "duration_s": float(length_s),
            "is_open": is_open, "peak_score": peak, "peak_at": start + timedelta(seconds=5), "threshold": threshold,
            "sensors": ["pressure", "current"], "sensor_shares": [0.7, 0.3], "kind": kind,
            "instrument_check": check, "model_name": "m",
            "model_version": 1, "run_id": "r1", "day": start.replace(hour=0, minute=0)}


def candidates(events: list[dict], last: dict[str, tuple] | None = None) -> pd.DataFrame:
    """The candidates as the store gives them; ``last``: event id -> the last alert's
    (status, level[, kind])."""
    frame = pd.DataFrame(events)[list(q.ALERT_EVENT_COLUMNS)]
    keys = [event_id(a, s) for a, s in zip(frame.asset_id, frame.event_start)]
    last = {k: (*v, "process")[:3] for k, v in (last or {}).items()}
    return frame.assign(last_status=[last.get(k, (None, None, None))[0] for k in keys],
                        last_level=[last.get(k, (None, None, None))[1] for k in keys],
                        last_kind=[last.get(k, (None, None, None))[2] for k in keys])


def test_an_event_found_to_be_an_instruments_fault_is_announced_again_with_its_kind():
    e = event("p1", 0, 1.5, True, kind="instrument", check="frozen")
    key = event_id("p1", e["event_start"])
    again = due(candidates([e], {key: ("open", 0, "process")}), LEVELS)
    assert again[["kind", "instrument_check"]].values.tolist() == [["instrument", "frozen"]]
    assert due(candidates([e], {key: ("open", 0, "instrument")}), LEVELS).empty


@pytest.mark.parametrize(("peak", "is_open", "last", "expected"), [
    (1.5, True, None, ("open", 0)),  # a new event
    (1.5, True, ("open", 0), None),  # unchanged: nothing
    (2.5, True, ("open", 0), ("open", 1)),  # crossed level 2
    (9.0, True, ("open", 1), ("open", 2)),  # crossed level 4
    (9.0, False, ("open", 2), ("closed", 2)),  # closed
    (9.0, False, ("closed", 2), None),
    (1.5, False, None, ("closed", 0)),  # a backfill sees it closed at once
])
def test_an_alert_is_due_when_the_state_changes(peak, is_open, last, expected):
    e = event("p1", 0, peak, is_open)
    got = due(candidates([e], {event_id("p1", e["event_start"]): last} if last else None), LEVELS)
    assert list(got.columns) == MESSAGE_COLUMNS
    assert [(r.status, r.severity_level) for r in got.itertuples()] == ([expected] if expected else [])


def test_the_event_id_is_the_asset_and_the_utc_onset():
    assert event_id("p1", pd.Timestamp("2026-05-01 10:00", tz="Europe/Berlin")) == "p1|2026-05-01T08:00:00+00:00"
    schema = json_schema(ANOMALY_ALERTS)
    assert schema["required"] == ANOMALY_ALERTS.column_names and schema["additionalProperties"] is False
    assert schema["properties"]["event_start"] == {"type": "string", "format": "date-time"}
    assert schema["properties"]["sensors"]["type"] == ["array", "null"]


@pytest.fixture
def alerting(store_isolated):
    settings = store_isolated.with_overrides(alerts={"topic": f"anomalies-{store_isolated.sql.schema_}"})
    store = SqlStore(settings).with_views()
    return settings, store


def test_alerts_are_published_once_per_state_and_tombstoned_when_the_event_is_gone(alerting):
    settings, store = alerting
    a, b = event("p1", 0, 1.5, True), event("p2", 5, 3.0, False)
    store.upsert(ANOMALY_EVENTS, [a, b])
    assert publish_alerts(store, settings) == Published(2, 0)
    assert publish_alerts(store, settings) == Published(0, 0)  # a re-run: nothing new
    store.upsert(ANOMALY_EVENTS, [{**a, "peak_score": 1.8, "event_end": a["event_end"] + timedelta(seconds=9)}])
    assert publish_alerts(store, settings) == Published(0, 0)  # grew, same level: no alert
    store.upsert(ANOMALY_EVENTS, [{**a, "peak_score": 5.0}])
    assert publish_alerts(store, settings) == Published(1, 0)  # crossed two levels: one alert
    store.upsert(ANOMALY_EVENTS, [{**a, "peak_score": 5.0, "is_open": False}])
    assert publish_alerts(store, settings) == Published(1, 0)  # closed
    store.delete_keys(ANOMALY_EVENTS, [(b["asset_id"], b["event_start"], b["day"])])
    assert publish_alerts(store, settings) == Published(0, 1)  # rewritten away by late events

    got = read_alerts(settings)
    key_a, key_b = event_id("p1", a["event_start"]), event_id("p2", b["event_start"])
    assert [(k, v and (v["status"], v["severity_level"])) for k, v in got] == [
        *sorted([(key_a, ("open", 0)), (key_b, ("closed", 1))]), (key_a, ("open", 2)), (key_a, ("closed", 2)),
        (key_b, None)]
    first = dict(got[:2])[key_a]
    assert set(first) == set(ANOMALY_ALERTS.column_names) and first["sensors"] == ["pressure", "current"]
    assert first["event_start"] == "2026-05-01T08:00:00+00:00" and first["severity"] == pytest.approx(1.5)
    stored = store.query(f"SELECT event_id, status, severity_level FROM {store.name(ANOMALY_ALERTS)}")
    assert stored == [(key_a, "closed", 2)]


def test_a_broker_outage_fails_clearly_and_the_next_run_publishes_what_is_missing(alerting):
    settings, store = alerting
    store.upsert(ANOMALY_EVENTS, [event("p1", 0, 1.5, True)])
    # A real fault: nothing listens on this port (the broker is "down" for this client).
    down = settings.with_overrides(kafka={"bootstrap_servers": "127.0.0.1:1"})
    with pytest.raises(KafkaUnavailable, match="127.0.0.1:1"):
        publish_alerts(store, down)
    assert store.query(f"SELECT count(*) FROM {store.name(ANOMALY_ALERTS)}") == [(0,)]  # nothing recorded
    assert publish_alerts(store, settings) == Published(1, 0)
    assert [v["status"] for _, v in read_alerts(settings)] == ["open"]


def test_the_alerts_command_prints_the_newest_messages(alerting, monkeypatch, capsys):
    settings, store = alerting
    store.upsert(ANOMALY_EVENTS, [event("p1", 0, 1.5, False), event("p2", 5, 3.0, True)])
    publish_alerts(store, settings)
    monkeypatch.setenv("SENSORWATCH__ALERTS__TOPIC", settings.alerts.topic)
    assert main(["alerts", "--last", "1"]) == 0
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert len(lines) == 1 and lines[0]["key"] == lines[0]["value"]["event_id"]
    assert f"2 message(s) on {settings.alerts.topic}" in out.err


def test_an_event_id_parses_back_and_nonsense_is_refused():
    start = pd.Timestamp("2026-05-01T08:00:00Z")
    assert parse_event_id(event_id("pump|7", start)) == ("pump|7", start)
    for bad in ("pump-1", "|2026-05-01T08:00:00Z", "p1|not a time"):
        with pytest.raises(ValueError, match="not an event id"):
            parse_event_id(bad)


def test_maintenance_windows_cover_the_events_they_overlap():
    events = pd.DataFrame([event("p1", 0, 2.0, True), event("p1", 10, 2.0, True), event("p2", 0, 2.0, True)])
    windows = pd.DataFrame({"asset_id": ["p1"], "window_start": [T0 + timedelta(seconds=59)],
                            "window_end": [T0 + timedelta(minutes=10)]})
    # p1's first event ends after the window starts; its second starts when the window ends (exclusive)
    assert in_maintenance(events, windows).tolist() == [True, False, False]


def test_maintenance_suppresses_alerts_not_events(alerting):
    settings, store = alerting
    a, b = event("p1", 0, 3.0, True), event("p2", 0, 3.0, True)
    store.upsert(ANOMALY_EVENTS, [a, b])
    add_maintenance(store, "p1", TimeRange(T0 - timedelta(hours=1), T0 + timedelta(hours=1)), "ops", "pump swap")
    assert publish_alerts(store, settings) == Published(1, 0)
    assert [k for k, _ in read_alerts(settings)] == [event_id("p2", b["event_start"])]
    assert store.query(f"SELECT count(*) FROM {store.name(ANOMALY_EVENTS)}") == [(2,)]  # both still stored
    assert store.query(f"SELECT note FROM {store.name(MAINTENANCE_WINDOWS)}") == [("pump swap",)]


def test_labels_are_recorded_for_known_events_only(alerting, monkeypatch, capsys):
    settings, store = alerting
    a = event("p1", 0, 3.0, False)
    store.upsert(ANOMALY_EVENTS, [a])
    key = event_id("p1", a["event_start"])
    label_event(store, key, "false_alarm", "ana", "valve test")
    with pytest.raises(UsageError, match="unknown label 'wrong'"):
        label_event(store, key, "wrong", "ana")
    with pytest.raises(UsageError, match="no anomaly event"):
        label_event(store, event_id("p9", a["event_start"]), "confirmed", "ana")
    monkeypatch.setenv("SENSORWATCH__SQL__SCHEMA", settings.sql.schema_)
    assert main(["label", key, "--as", "confirmed", "--author", "bo"]) == 0
    assert main(["label", "p1|yesterday", "--as", "confirmed"]) == 2
    assert "not an event id" in capsys.readouterr().err
    rows = store.query(f"SELECT event_id, label, author, note FROM {store.name(ANOMALY_FEEDBACK)} ORDER BY labelled_at")
    assert rows == [(key, "false_alarm", "ana", "valve test"), (key, "confirmed", "bo", None)]


def test_the_feedback_view_reports_precision_per_asset_and_model_version(alerting):
    settings, store = alerting
    events = [event("p1", 0, 3.0, False), event("p1", 60, 3.0, False), event("p1", 120, 3.0, False),
              event("p2", 0, 3.0, False)]
    store.upsert(ANOMALY_EVENTS, events)
    publish_alerts(store, settings)
    keys = [event_id(e["asset_id"], e["event_start"]) for e in events]
    label_event(store, keys[0], "false_alarm", "ana")
    label_event(store, keys[0], "confirmed", "ana")  # changed their mind: the newest label counts
    label_event(store, keys[1], "false_alarm", "ana")
    label_event(store, keys[3], "unsure", "bo")
    query = (f"SELECT asset_id, model_version, events, alerted, confirmed, false_alarms, unsure, unlabelled, "
             f'alert_precision, events_per_day, mean_time_to_confirm_s FROM "{settings.sql.schema_}".v_alert_feedback '
             "ORDER BY 1")
    assert store.query(query) == []  # run r1 has no prediction_runs row yet: not committed, not shown
    store.upsert(PREDICTION_RUNS, [{"run_id": "r1", "started_at": T0, "interval_start": T0, "interval_end": T0,
                                    "model_name": "m", "model_version": 1, "assets": 2, "rows_scored": 0,
                                    "anomalies": 0, "open_events": 0, "duration_s": 1.0}])
    rows = store.query(query)
    (p1, *r1), (p2, *r2) = rows
    assert (p1, *r1[:7]) == ("p1", 1, 3, 3, 1, 1, 0, 1) and r1[7] == pytest.approx(0.5)
    assert r1[8] == pytest.approx(3.0)  # 3 events within one day: per day over at least a day
    assert r1[9] > 0  # labelled after the onset
    assert (p2, *r2[:7]) == ("p2", 1, 1, 1, 0, 0, 1, 0) and r2[7] is None  # no confirmed/false alarm: undefined


def test_a_predicted_limit_is_announced_when_it_becomes_likely_and_when_it_no_longer_is():
    from models.alert_rules import limits_due

    def candidate(p: float | None, last: str | None) -> dict:
        return {"asset_id": "p1", "sensor": "pressure", "limit_at": T0, "probability": p, "limit_low": None,
                "limit_high": 3.0, "issued_at": T0, "last_status": last}

    due_now = lambda *c: limits_due(pd.DataFrame([candidate(*x) for x in c]), 0.5)
    assert due_now((0.7, None))[["alert_id", "status"]].values.tolist() == [["p1|predicted_limit|pressure",
                                                                              "predicted"]]
    assert due_now((0.7, "predicted")).empty and due_now((0.1, None)).empty  # unchanged; never likely
    assert due_now((0.1, "predicted"))["status"].tolist() == ["cleared"]
    assert due_now((None, "cleared")).empty
