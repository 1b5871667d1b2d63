"""The prediction job against real HDFS, CrateDB, Spark and a local MLflow store:
injected anomalies found in anomaly_events, live cycles == backfill, re-runs change
nothing, late events update their rows, the pandas UDF == in-process scoring, the BI
views and read-only role, monitoring, and the errors (no champion, no data, store down,
a model that does not match the features)."""

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import psycopg
import pytest

from features.compute import features_frame
from models import registry
from models.alert_rules import event_id
from models.detector import ModelError
from models.serving import Grid, score_frame
from schemas import (
    ANOMALY_ALERTS,
    ANOMALY_EVENTS,
    ANOMALY_FEEDBACK,
    ANOMALY_SCORES,
    CHALLENGER_EVENTS,
    CHALLENGER_SCORES,
    FEATURE_DRIFT,
    JOB_RUNS,
    PREDICTION_RUNS,
    SENSOR_FEATURES,
    SENSOR_FORECASTS,
    SENSOR_NAMES,
    json_schema,
)
from schemas.time import TimeRange
from sensorwatch.cli import main
from sensorwatch.connectors.sql import SqlStore, SqlUnavailable
from sensorwatch.connectors.sql import statements as q
from sensorwatch.operations.alerts import read_alerts
from sensorwatch.operations.events import reads, update_events
from sensorwatch.operations.feedback import label_event
from sensorwatch.operations.threshold_versions import active as active_thresholds
from sensorwatch.pipeline.featurization import run_features
from sensorwatch.pipeline.prediction import run_predict
from tests.conftest import doc_sql_blocks, drop_test_schemas
from tests.landing_seed import seed_landing
from tests.scoring_setup import (
    END,
    SMALL,
    WARMUP,
    at,
    isolated,
    land_and_train,
    register_foreign_signature,
    with_schema,
)

LINEAGE = ["run_id"]  # the only column a re-run may change: which run last changed the row


def table(settings, t, order=("asset_id",)) -> pd.DataFrame:
    store = SqlStore(settings)
    rows = store.query(f"SELECT {q.columns(t.column_names).as_string()} FROM {store.name(t)} "
                       f"ORDER BY {', '.join(t.primary_key)}")
    return pd.DataFrame(rows, columns=t.column_names)


def scored(settings, t) -> pd.DataFrame:
    """What prediction runs wrote to ``t`` (the hourly forecasts come from their own job), less lineage."""
    rows = table(settings, t).drop(columns=LINEAGE)
    return rows[rows.horizon == "short"].reset_index(drop=True) if t is SENSOR_FORECASTS else rows


@pytest.fixture(scope="module")
def pipeline(live_services, spark, tmp_path_factory):
    """Landing events of 4 simulated pumps (one anomaly each, after a 10-minute warm-up),
    a champion trained on the warm-up, and one backfill over the scored range."""
    tmp = tmp_path_factory.mktemp("predict")
    base, settings = isolated(live_services, tmp)
    series, naive = land_and_train(spark, settings, tmp)
    summary = run_predict(spark, settings, span=TimeRange(at(WARMUP), at(END)))
    yield {"settings": settings, "base": base, "series": series, "events": naive, "summary": summary, "tmp": tmp}
    drop_test_schemas(live_services, r"p_[0-9a-f]{8}")


def test_injected_anomalies_are_found_with_their_asset_and_sensors(pipeline):
    summary, settings = pipeline["summary"], pipeline["settings"]
    assert summary.status == "succeeded" and summary.rows_out == 4 * (END - WARMUP)
    events = table(settings, ANOMALY_EVENTS)
    found = 0
    for s in pipeline["series"]:
        for truth in s.anomalies:
            if truth.kind == "spike":  # 1-5 s: shorter than min_duration, by design not an event
                continue
            hits = events[(events.asset_id == truth.asset_id) & (events.event_start <= truth.end)
                          & (events.event_end > truth.start)]
            assert len(hits), f"missed {truth}"
            assert set(hits.sort_values("peak_score").iloc[-1]["sensors"][:2]) & set(truth.sensors), (truth, hits)
            found += 1
    assert found == 3  # a drift of pressure, a drift of accelerometer2, a correlated (cavitation) fault
    # Every event was alerted once, keyed by event id, with its state (a message valid
    # against the schema's JSON Schema: every field, nothing else).
    alerts = read_alerts(settings)
    assert sorted(k for k, _ in alerts) == sorted(f"{a}|{pd.Timestamp(s).isoformat()}"
                                                  for a, s in zip(events.asset_id, events.event_start))
    schema = json_schema(ANOMALY_ALERTS)
    for key, value in alerts:
        assert set(value) == set(schema["required"]) and value["event_id"] == key
        assert value["status"] == ("open" if events.set_index("event_start").loc[
            pd.Timestamp(value["event_start"]), "is_open"].any() else "closed")
    scores = table(settings, ANOMALY_SCORES)
    assert (scores.run_id == summary.run_id).all() and (scores.model_version == 1).all()
    assert set(scores.source_partition) == {"date=2026-05-01/hour=8"} and scores.is_anomaly.sum() > 0
    assert (scores.is_anomaly <= scores.exceeds).all()


def test_monitoring_rows_describe_the_run(pipeline, spark):
    settings, summary = pipeline["settings"], pipeline["summary"]
    run = table(settings, PREDICTION_RUNS).set_index("run_id").loc[summary.run_id]
    assert run.rows_scored == 4 * (END - WARMUP) and run.assets == 4 and run.model_version == 1
    assert run.anomalies == table(settings, ANOMALY_SCORES).is_anomaly.sum() > 0
    assert 0 < run.score_p50 <= run.score_p95 <= run.score_p99 <= run.score_max
    assert run.data_since_training_h == pytest.approx((END - WARMUP) / 3600, abs=1e-3)
    assert all(run[f"{s}_s"] is not None for s in ("read", "features", "scoring", "write"))
    drift = table(settings, FEATURE_DRIFT)
    assert len(drift) == 8 and drift.psi.notna().all()
    assert run.max_psi == pytest.approx(drift.psi.max())
    # the drifted features are those past the conf limit, and each is a warning
    limit = settings.predict.psi_warn
    assert sorted(run.drifted_features) == sorted(drift.feature[drift.psi > limit])
    assert any("feature drift" in w for w in run.warnings) == bool(run.drifted_features)
    # a champion trained on data that ended long ago is stale
    stale = settings.with_overrides(predict={"stale_after_h": 0.05})
    assert any("stale model" in w and "retrain" in w for w in run_predict(spark, stale, at=at(END)).details.warnings)


def test_each_cycle_forecasts_every_sensor_and_records_what_came(pipeline):
    """The backfill over three 3-minute cycles issued each cycle's short forecasts (every
    pump, sensor and step, intervals ordered) and the actual means of each cycle's periods;
    v_forecast_vs_actual pairs the forecasts with the actuals of the periods that passed."""
    settings = pipeline["settings"]
    rows = table(settings, SENSOR_FORECASTS)
    ahead, actual = rows[rows.steps_ahead > 0], rows[rows.steps_ahead == 0]
    issues = sorted(ahead.issued_at.unique())
    assert [pd.Timestamp(i) for i in issues] == [pd.Timestamp(at(s)) for s in (720, 900, 1080)]  # every 180 s
    assert len(ahead) == 4 * 3 * 3 * 8 and ahead.forecast.notna().all()  # pumps x issues x steps x sensors
    assert ((ahead.lo95 <= ahead.lo80) & (ahead.lo80 <= ahead.hi80) & (ahead.hi80 <= ahead.hi95)).all()
    assert len(actual) == 4 * 3 * 18 * 8 and actual.actual.notna().all()  # each cycle's 18 periods of 10 s
    assert pipeline["summary"].details.forecasts == len(rows)
    store = SqlStore(settings)
    paired = store.query(f"SELECT count(*) AS n, count(actual) AS known FROM {store.name('v_forecast_vs_actual')}")
    assert paired[0].n == len(ahead) and 0 < paired[0].known < len(ahead)  # the last issue's targets: not yet


def test_live_cycles_equal_one_backfill_and_reruns_change_nothing(pipeline, spark):
    live = with_schema(pipeline["base"])
    for end in range(WARMUP + 180, END + 1, 180):  # three 3-minute cycles, as the schedule runs them
        assert run_predict(spark, live, at=at(end)).status == "succeeded"
    backfill = pipeline["settings"]
    for t in (ANOMALY_SCORES, ANOMALY_EVENTS, SENSOR_FORECASTS):
        a, b = scored(live, t), scored(backfill, t)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=t.name)
    before = table(live, ANOMALY_SCORES)
    rerun = run_predict(spark, live, at=at(WARMUP + 360))
    after = table(live, ANOMALY_SCORES)
    pd.testing.assert_frame_equal(before.drop(columns=LINEAGE), after.drop(columns=LINEAGE))
    # the re-run rewrote its interval's rows with the same values: they keep the lineage of
    # the run that wrote them (so the views, which show committed runs, never lose them)
    assert rerun.rows_out == 4 * 180 and (after.run_id == before.run_id).all()
    assert len(table(live, ANOMALY_EVENTS)) == len(table(backfill, ANOMALY_EVENTS))
    # Alerts: the same keys, ending in the same states; one message per change of state,
    # none from the re-run (nothing changed).
    assert rerun.details.alerts == {"published": 0, "tombstones": 0, "predicted_limit": 0}
    live_alerts, backfill_alerts = read_alerts(live), read_alerts(backfill)
    latest = lambda msgs: {k: (v["status"], v["severity_level"]) for k, v in msgs}
    assert latest(live_alerts) == latest(backfill_alerts) and len(backfill_alerts) == len(latest(backfill_alerts))
    states = [(k, v["status"], v["severity_level"]) for k, v in live_alerts]
    assert len(states) == len(set(states)) and len(live_alerts) >= len(backfill_alerts)


def test_the_continuous_mode_writes_what_scheduled_runs_write(pipeline, spark):
    """``predict --continuous``: a Structured Streaming trigger per cycle running the same
    code. A logical clock (three 3-minute cycles, one per 1 s trigger, as a replay) makes
    it comparable with the scheduled runs' backfill, row for row."""
    from sensorwatch.pipeline.continuous import run_continuous

    live = with_schema(pipeline["base"])
    ticks = iter([at(WARMUP + 180), at(WARMUP + 360), at(WARMUP + 360), at(END)] + [at(END)] * 100)
    cycles = run_continuous(spark, live, timeout_s=180, trigger_s=1, clock=lambda: next(ticks), max_cycles=3)
    spans = [(c.range_start, c.range_end) for c in cycles]
    assert spans[:3] == [(at(WARMUP), at(WARMUP + 180)), (at(WARMUP + 180), at(WARMUP + 360)),
                         (at(WARMUP + 360), at(END))]  # a trigger with nothing new scored nothing
    assert all(c.status == "succeeded" for c in cycles) and len(cycles) == 3
    for t in (ANOMALY_SCORES, ANOMALY_EVENTS, SENSOR_FORECASTS):
        a, b = scored(live, t), scored(pipeline["settings"], t)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=t.name)


def test_late_events_update_the_rows_of_their_interval(pipeline, spark):
    settings = with_schema(pipeline["base"].with_overrides(
        storage={"root": f"{pipeline['base'].storage.root}-late"}))
    events = pipeline["events"].assign(event_time=lambda e: e.event_time.dt.tz_localize("UTC"))
    late = (events.asset_id == "pump-0002") & (events.event_time >= at(800)) & (events.event_time < at(860))
    seed_landing(spark, settings, events[~late])
    run_predict(spark, settings, at=at(960))
    first = table(settings, ANOMALY_SCORES)
    assert (first.asset_id == "pump-0002").sum() == 180 - 60
    seed_landing(spark, settings, events[late], ingest_time=datetime.now(UTC) + timedelta(minutes=5))
    run_predict(spark, settings, at=at(960))
    updated = table(settings, ANOMALY_SCORES)
    complete = table(pipeline["settings"], ANOMALY_SCORES)
    complete = complete[(complete.interval_start >= at(780)) & (complete.interval_start < at(960))]
    pd.testing.assert_frame_equal(updated.drop(columns=LINEAGE).reset_index(drop=True),
                                  complete.drop(columns=LINEAGE).reset_index(drop=True))
    assert not first.drop(columns=LINEAGE).equals(updated[updated.index.isin(first.index)].drop(columns=LINEAGE))


def test_an_event_goes_on_over_intervals_without_data_and_ends_at_one_below_threshold(pipeline):
    # The backfill's scores of the asset with the longest event, copied into a schema of their own.
    backfill = pipeline["settings"]
    events = table(backfill, ANOMALY_EVENTS)
    longest = events.sort_values("intervals").iloc[-1]
    asset, start, end = longest.asset_id, longest.event_start, longest.event_end
    settings = with_schema(pipeline["base"])
    store = SqlStore(settings)
    store.create_tables([ANOMALY_SCORES, ANOMALY_EVENTS])
    store.execute(f"INSERT INTO {store.name(ANOMALY_SCORES)} SELECT * FROM {SqlStore(backfill).name(ANOMALY_SCORES)} "
                  "WHERE asset_id = %s", (asset,))
    store.refresh(ANOMALY_SCORES)  # CrateDB: a write is read after a refresh
    grid, min_duration = Grid.for_range(at(WARMUP), at(END), 1, 0), backfill.model.spec().min_duration
    rebuilt = lambda: table(settings, ANOMALY_EVENTS).loc[lambda e: e.asset_id == asset]
    update_events(store, [asset], grid, min_duration)
    assert (rebuilt().event_start == start).sum() == 1 and len(rebuilt()) == (events.asset_id == asset).sum()

    # Seconds without data inside it (as SKAB has): still one event, over the same span.
    middle = start + timedelta(seconds=(end - start).total_seconds() // 2)
    gap = [middle + timedelta(seconds=s) for s in (0, 1, 5)]
    store.execute(f"DELETE FROM {store.name(ANOMALY_SCORES)} WHERE asset_id = %s AND interval_start IN (%s, %s, %s)",
                  (asset, *gap))
    store.refresh(ANOMALY_SCORES)
    update_events(store, [asset], grid, min_duration)
    event = rebuilt().set_index("event_start").loc[start]
    assert event.event_end == end and event.intervals == longest.intervals - 3

    # One scored interval below the threshold: it ends the event there.
    store.execute(f"UPDATE {store.name(ANOMALY_SCORES)} SET exceeds = false WHERE asset_id = %s AND interval_start = %s",
                  (asset, gap[0] - timedelta(seconds=1)))
    store.refresh(ANOMALY_SCORES)
    update_events(store, [asset], grid, min_duration)
    assert rebuilt().set_index("event_start").loc[start].event_end == gap[0] - timedelta(seconds=1)


def test_event_reads_are_bounded_by_rows_and_an_assets_long_event_is_read_alone():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    usual = (t0, t0 + timedelta(seconds=200))
    spans = {f"p{i}": usual for i in range(5)} | {"long": (t0 - timedelta(days=1), usual[1])}
    assert reads(spans, 1, 400) == [["long"], ["p0", "p1"], ["p2", "p3"], ["p4"]]
    assert reads(spans, 1, 10**9) == [["long", "p0", "p1", "p2", "p3", "p4"]]
    assert reads({a: usual for a in ("b", "a")}, 1, 1) == [["a"], ["b"]]  # alone, whatever its length


def test_an_assets_newest_score_is_read_from_the_run_on_else_over_its_history(store_isolated):
    """The events' is_open needs each asset's newest score row: read from the span's start
    (the newest day partitions only: not every row the store keeps, which grows with the
    retention), and over the whole history for an asset with no row there."""
    from sensorwatch.operations.events import _newest

    store = SqlStore(store_isolated)
    store.create_tables((ANOMALY_SCORES,))
    rows = [("a", datetime(2026, 1, 3, 10, tzinfo=UTC)), ("a", datetime(2026, 1, 5, 9, 30, tzinfo=UTC)),
            ("b", datetime(2026, 1, 3, 11, tzinfo=UTC))]
    store.execute_many(q.upsert_values(store.target, ANOMALY_SCORES), [
        [{"asset_id": a, "interval_start": t, "threshold": 1.0, "exceeds": False, "is_anomaly": False,
          "model_name": "m", "model_version": 1, "run_id": "r", "source_partition": "x",
          "day": t.replace(hour=0, minute=0)}.get(c) for c in ANOMALY_SCORES.column_names] for a, t in rows])
    store.refresh(ANOMALY_SCORES)
    since = datetime(2026, 1, 5, 9, tzinfo=UTC)
    bounded = store.query(q.newest_score(store.target, ["a", "b"], since=since))
    assert [(r.asset_id, pd.Timestamp(r.newest)) for r in bounded] == [("a", pd.Timestamp("2026-01-05 09:30", tz="UTC"))]
    assert _newest(store, ["a", "b"], since, q.CHAMPION) == {"a": pd.Timestamp("2026-01-05 09:30", tz="UTC"),
                                                              "b": pd.Timestamp("2026-01-03 11:00", tz="UTC")}


def test_events_rebuilt_a_read_at_a_time_equal_one_pass_over_all(pipeline):
    # The backfill's scores of all 4 pumps in a schema of their own; the events rebuilt in
    # one read, then again one asset a read (the driver's memory bound).
    backfill = pipeline["settings"]
    settings = with_schema(pipeline["base"])
    store = SqlStore(settings)
    store.create_tables([ANOMALY_SCORES, ANOMALY_EVENTS])
    store.execute(f"INSERT INTO {store.name(ANOMALY_SCORES)} SELECT * FROM {SqlStore(backfill).name(ANOMALY_SCORES)}")
    store.refresh(ANOMALY_SCORES)
    assets = sorted(table(backfill, ANOMALY_SCORES).asset_id.unique())
    grid, min_duration = Grid.for_range(at(WARMUP), at(END), 1, 0), backfill.model.spec().min_duration
    opened = update_events(store, assets, grid, min_duration)
    whole = table(settings, ANOMALY_EVENTS)
    store.execute(f"DELETE FROM {store.name(ANOMALY_EVENTS)}")
    store.refresh(ANOMALY_EVENTS)
    assert update_events(store, assets, grid, min_duration, rows_per_read=1) == opened
    one_by_one = table(settings, ANOMALY_EVENTS)
    assert len(assets) == 4 and whole.asset_id.nunique() == 4  # events in every read
    pd.testing.assert_frame_equal(one_by_one, whole)
    assert whole.groupby("asset_id").size().equals(table(backfill, ANOMALY_EVENTS).groupby("asset_id").size())


def test_the_pandas_udf_and_in_process_scoring_give_the_same_scores(pipeline):
    settings = pipeline["settings"]
    model = registry.load(settings.model)
    grid = Grid.for_range(at(WARMUP), at(END), 1, model.detector.lookback_rows)
    ev = pipeline["events"]
    fspec = settings.features.spec()
    needed = ev[(ev.event_time >= pd.Timestamp(grid.start).tz_localize(None) - pd.Timedelta(seconds=fspec.lookback_s))
                & (ev.event_time < pd.Timestamp(grid.end).tz_localize(None))]
    direct = score_frame(model.detector, features_frame(needed, fspec), grid)
    via_udf = table(settings, ANOMALY_SCORES)
    assert len(direct) == len(via_udf) == 4 * (END - WARMUP)
    np.testing.assert_allclose(via_udf["score"].astype(float), direct["score"], rtol=1e-12)
    assert via_udf["is_anomaly"].tolist() == direct["is_anomaly"].tolist()
    assert via_udf["top_sensors"].tolist() == direct["top_sensors"].tolist()


def test_rows_of_a_run_that_never_committed_are_taken_over_by_the_next_run(pipeline, spark):
    """A run killed after its writes, before its commit marker: its rows are hidden from the
    views. The next run for the span rewrites them with the same values (so the upsert keeps
    the dead run's id) and takes them over before it commits: the views show every row."""
    settings = with_schema(pipeline["base"])
    first = run_predict(spark, settings, at=at(WARMUP + 180))
    store = SqlStore(settings)
    store.execute(f"DELETE FROM {store.name(PREDICTION_RUNS)} WHERE run_id = %s", (first.run_id,))  # never committed
    store.refresh(PREDICTION_RUNS)
    scores = store.query(f"SELECT count(*) FROM {store.name(ANOMALY_SCORES)}")[0][0]
    assert scores == first.rows_out > 0
    assert store.query(f"SELECT count(*) FROM {store.name('v_asset_scores')}") == [(0,)]
    second = run_predict(spark, settings, at=at(WARMUP + 180))
    assert second.details.rows_taken_over >= scores
    assert store.query(f"SELECT count(*) FROM {store.name('v_asset_scores')}") == [(scores,)]
    assert store.query(f"SELECT count(*) FROM {store.name('v_anomaly_events')}") == \
        store.query(f"SELECT count(*) FROM {store.name(ANOMALY_EVENTS)}")
    assert {r[0] for r in store.query(f"SELECT DISTINCT run_id FROM {store.name(ANOMALY_SCORES)}")} == \
        {second.run_id}
    # a committed run's rows are never taken over: a third run changes nothing of the lineage
    third = run_predict(spark, settings, at=at(WARMUP + 180))
    assert third.details.rows_taken_over == 0
    assert {r[0] for r in store.query(f"SELECT DISTINCT run_id FROM {store.name(ANOMALY_SCORES)}")} == \
        {second.run_id}


def test_bi_views_answer_and_the_bi_role_reads_but_cannot_write(pipeline, spark, monkeypatch, capsys):
    """Security: the BI login reads its schema's tables and views, may add labels, and can
    do nothing else: no other write, nothing outside its schema, nothing created. (CrateDB's
    privilege classes: DML on anomaly_feedback also lets it correct or delete labels there.)"""
    settings = pipeline["settings"]
    run_features(spark, settings, TimeRange(at(0), at(END)))  # v_features_hourly reads sensor_features
    role = f"bi_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SENSORWATCH__SQL__SCHEMA", settings.sql.schema_)
    monkeypatch.setenv("SENSORWATCH_BI_PASSWORD", "bi's secret")
    assert main(["bi", "setup", "--role", role]) == 0
    assert f"BI login '{role}': read-only" in capsys.readouterr().out
    schema, conf = settings.sql.schema_, settings.sql
    other = with_schema(pipeline["base"])  # another schema of the same database, with a table
    SqlStore(other).create_tables((JOB_RUNS,))
    try:
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):  # password authentication
            psycopg.connect(host=conf.host, port=conf.port, dbname=conf.database, user=role)
        with psycopg.connect(host=conf.host, port=conf.port, dbname=conf.database, user=role, password="bi's secret",
                             autocommit=True) as bi:
            health = bi.execute(f'SELECT asset_id, status, events FROM "{schema}".v_asset_health ORDER BY 1').fetchall()
            assert [h[0] for h in health] == ["pump-0000", "pump-0001", "pump-0002", "pump-0003"]
            assert {h[1] for h in health} <= {"ok", "watch", "anomaly"}
            n_events = bi.execute(f'SELECT count(*) FROM "{schema}".v_anomaly_events WHERE severity > 1').fetchone()[0]
            assert n_events == len(table(settings, ANOMALY_EVENTS)) > 0
            hourly = bi.execute(f'SELECT asset_id, hour, intervals FROM "{schema}".v_features_hourly '
                                "ORDER BY 1, 2").fetchall()
            assert len(hourly) == 4 and all(h[2] == END for h in hourly)
            # every example of docs/bi.md for the SQL store, as this login, as a BI tool sends it
            bi.execute(f'SET search_path TO "{schema}"')
            examples = doc_sql_blocks("sql")
            assert len(examples) == 10
            for example in examples:
                bi.execute(example).fetchall()
            # a label from the BI tool: INSERT into anomaly_feedback, and nothing else
            event = table(settings, ANOMALY_EVENTS).iloc[0]
            key = event_id(event.asset_id, event.event_start)
            bi.execute(f'INSERT INTO "{schema}".anomaly_feedback (event_id, asset_id, event_start, label, author, '
                       "labelled_at) VALUES (%s, %s, %s, 'false_alarm', 'bi', now())",
                       (key, event.asset_id, event.event_start))
            SqlStore(settings).refresh(ANOMALY_FEEDBACK)
            assert table(settings, ANOMALY_FEEDBACK)[["event_id", "label"]].values.tolist() == [[key, "false_alarm"]]
            refused = {f'INSERT INTO "{schema}".job_runs (run_id, job, started_at, status) '
                       "VALUES ('x', 'x', now(), 'x')": "Missing 'DML' privilege",
                       f'DELETE FROM "{schema}".anomaly_events': "Missing 'DML' privilege",
                       f"UPDATE \"{schema}\".anomaly_scores SET score = 0": "Missing 'DML' privilege",
                       f'CREATE TABLE "{schema}".mine (a int)': "Missing 'DDL' privilege",
                       f'DROP VIEW "{schema}".v_asset_health': "Missing 'DDL' privilege",
                       f'DROP TABLE "{schema}".anomaly_feedback': "Missing 'DDL' privilege",
                       f'CREATE USER "{role}_2"': "Missing 'AL' privilege",
                       # nothing outside its schema exists for it, and nothing can be created anywhere
                       f'SELECT * FROM "{other.sql.schema_}".job_runs': f"Schema '{other.sql.schema_}' unknown",
                       "SELECT * FROM sys.users": "Schema 'sys' unknown",
                       "CREATE TABLE doc.mine (a int)": "Schema 'doc' unknown|Missing 'DDL' privilege"}
            for statement, says in refused.items():
                with pytest.raises(psycopg.Error, match=says):
                    bi.execute(statement)
    finally:
        SqlStore(settings).execute(f'DROP USER IF EXISTS "{role}"')
        SqlStore(other).drop_schema()


def test_no_new_data_is_a_clean_noop(pipeline, spark):
    settings = with_schema(pipeline["base"])
    summary = run_predict(spark, settings, at=at(5000))
    assert summary.status == "noop" and summary.rows_in == 0 and summary.rows_out == 0
    assert table(settings, ANOMALY_SCORES).empty and table(settings, ANOMALY_EVENTS).empty
    run = table(settings, PREDICTION_RUNS).iloc[0]
    assert run.rows_scored == 0 and run.model_version == 1
    assert table(settings, JOB_RUNS).iloc[0].status == "noop"
    # events in the lookback only (the data ends at T0 + 1400 s): nothing to score either
    after = run_predict(spark, settings, at=at(1400 + 190))
    assert after.status == "noop" and after.rows_in > 0 and after.rows_out == 0
    assert table(settings, ANOMALY_SCORES).empty


def test_no_champion_says_train_first_and_exits_non_zero(pipeline, tmp_path):
    settings = pipeline["settings"]
    env = {"PATH": "/usr/bin:/bin", "SENSORWATCH__MODEL__TRACKING_URI": str(tmp_path / "empty"),
           "SENSORWATCH__SQL__SCHEMA": settings.sql.schema_, "SENSORWATCH__STORAGE__ROOT": settings.storage.root}
    cli = subprocess.run([sys.executable, "-m", "sensorwatch.cli", "predict", "--at", at(END).isoformat()],
                         capture_output=True, text=True, env=env, timeout=300)
    assert cli.returncode == 1, cli.stderr[-2000:]
    assert "ModelError: no 'champion' version of model 'sensorwatch-detector'" in cli.stderr
    assert "train one first (sensorwatch train)" in cli.stderr and "Traceback" not in cli.stderr
    runs = table(settings, JOB_RUNS)
    failed = runs[runs.job == "predict"].sort_values("started_at").iloc[-1]
    assert failed.status == "failed" and "train one first" in failed.error


def test_a_command_prints_the_pipelines_own_lines_only(pipeline, tmp_path):
    """``sensorwatch predict`` starts a JVM (Spark) and Python workers that import
    TensorFlow: their start-up chatter (Spark's WARN lines and log4j notice, the JVM's
    incubator warning, absl/oneDNN/CUDA lines) goes to the native log, not to the user."""
    settings = pipeline["settings"]
    log = tmp_path / "native.log"
    env = {"PATH": "/usr/bin:/bin", "SENSORWATCH_NATIVE_LOG": str(log),
           "SENSORWATCH__MODEL__TRACKING_URI": settings.model.tracking_uri,
           "SENSORWATCH__SQL__SCHEMA": settings.sql.schema_, "SENSORWATCH__STORAGE__ROOT": settings.storage.root,
           "SENSORWATCH__ALERTS__TOPIC": settings.alerts.topic, "SENSORWATCH__PREDICT__LATENESS_S": "0"}
    cli = subprocess.run([sys.executable, "-m", "sensorwatch.cli", "predict", "--at", at(END).isoformat()],
                         capture_output=True, text=True, env=env, timeout=600)
    assert cli.returncode == 0, cli.stderr[-2000:]
    ours = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d (INFO|WARNING|ERROR) (sensorwatch|models|features|schemas)\b")
    assert [line for line in cli.stderr.splitlines() if line.strip() and not ours.match(line)] == []
    chatter = log.read_text()
    assert "WARN" in chatter and "log4j" in chatter  # it went to the log, it did not vanish


def test_a_model_whose_signature_does_not_match_the_features_is_refused(pipeline, spark):
    settings = pipeline["settings"].with_overrides(model={"name": "foreign-detector"})
    loaded = registry.load(pipeline["settings"].model)
    directory = loaded.detector.save(pipeline["tmp"] / "foreign" / registry.ARTIFACT)
    register_foreign_signature(settings.model, directory, loaded.detector.spec.columns)
    registry.promote(settings.model, 1)
    with pytest.raises(ModelError, match=r"its input signature needs pressure__kurtosis, which the features do not"):
        run_predict(spark, settings, at=at(END))


def test_an_unreachable_store_is_retried_then_fails_writing_nothing(pipeline, spark):
    settings = with_schema(pipeline["base"])
    broken = settings.with_overrides(sql={"port": 1, "retries": 1, "retry_backoff_s": 0.1})
    with pytest.raises(SqlUnavailable, match="unreachable after 2 attempt"):
        run_predict(spark, broken, at=at(END))
    store = SqlStore(settings)
    assert store.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                       (settings.sql.schema_,)) == [(0,)]


def test_the_asset_plot_shows_detected_and_true_anomalies(pipeline, spark, tmp_path):
    from sensorwatch.operations.asset_plot import plot_asset

    settings, series = pipeline["settings"], pipeline["series"]
    run_features(spark, settings, TimeRange(at(0), at(END)))  # the plotted signals come from sensor_features
    truth = {"anomalies": [a.to_json() for s in series for a in s.anomalies]}
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "sim.json").write_text(json.dumps(truth))
    path, summary = plot_asset(settings, tmp_path / "plot.png", truth_dir=tmp_path / "truth")
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"
    events = table(settings, ANOMALY_EVENTS)
    assert summary["asset"] in set(events.asset_id)  # default: the asset of the most severe event
    assert summary["intervals"] == END - WARMUP and summary["events"] >= 1
    assert 0 < summary["detected_true_intervals"] <= summary["true_intervals"]
    with pytest.raises(LookupError, match="no anomaly scores"):
        plot_asset(settings, tmp_path / "none.png", asset="pump-9999", truth_dir=tmp_path / "truth")


def test_plot_refuses_a_bad_or_half_range(capsys):
    assert main(["plot", "--from", "yesterday", "--to", "2026-05-01T09:00:00Z"]) == 2
    assert main(["plot", "--from", "2026-05-01T08:00:00Z"]) == 2
    assert "give both --from and --to" in capsys.readouterr().err


def test_labels_recalibrate_thresholds_and_an_applied_version_is_scored_with(pipeline, spark, monkeypatch, capsys):
    """From operators' labels to scores: label an event a false alarm and the others
    confirmed, recalibrate with no false alarm allowed, look at the proposal, apply it; the
    next run scores with it, names it on every row, and the false alarm is gone. The false
    alarm is the weakest event of an asset with no other event (a threshold can only drop
    an event that is weaker than every confirmed one of its asset: where it is not, the
    recalibration keeps the threshold: test_thresholds.py)."""
    settings = with_schema(pipeline["base"])
    span = TimeRange(at(WARMUP), at(END))
    run_predict(spark, settings, span=span)
    events = table(settings, ANOMALY_EVENTS).sort_values("peak_score")
    alone = events.groupby("asset_id")["asset_id"].transform("size") == 1
    false_alarm = events[alone].iloc[0]
    store = SqlStore(settings)
    for e in events.itertuples():
        label = "false_alarm" if e.Index == false_alarm.name else "confirmed"
        label_event(store, event_id(e.asset_id, e.event_start), label, "test")
    monkeypatch.setenv("SENSORWATCH__SQL__SCHEMA", settings.sql.schema_)
    monkeypatch.setenv("SENSORWATCH__MODEL__TRACKING_URI", str(settings.model.tracking_uri))
    assert main(["thresholds", "recalibrate", "--budget", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{false_alarm.asset_id}: threshold" in out and "proposed threshold version 1" in out
    assert main(["thresholds", "apply", "1"]) == 0
    version, thresholds = active_thresholds(store, "sensorwatch-detector", 1)
    assert version == 1 and set(thresholds) == {false_alarm.asset_id}
    assert thresholds[false_alarm.asset_id] > false_alarm.threshold

    run_predict(spark, settings, span=span)
    scores = table(settings, ANOMALY_SCORES)
    assert (scores.threshold_version == 1).all()
    mine = scores[scores.asset_id == false_alarm.asset_id]
    assert np.allclose(mine.threshold, thresholds[false_alarm.asset_id])
    after = table(settings, ANOMALY_EVENTS)
    gone = (after.asset_id == false_alarm.asset_id) & (after.event_start < false_alarm.event_end) \
        & (after.event_end > false_alarm.event_start)
    assert not gone.any()
    for e in events[events.index != false_alarm.name].itertuples():  # every confirmed event still alerted
        assert ((after.asset_id == e.asset_id) & (after.event_start < e.event_end) & (after.event_end > e.event_start)).any()


def overlapping(a: pd.DataFrame, b: pd.DataFrame) -> int:
    """How many events of ``a`` an event of ``b`` overlaps."""
    return sum(bool(((b.event_start < e.event_end) & (e.event_start < b.event_end)).any()) for e in a.itertuples())


def test_a_challenger_is_scored_beside_the_champion_compared_and_cannot_break_the_run(pipeline, spark, monkeypatch,
                                                                                       capsys):
    """Champion v1 and a challenger v2 (the same network, every threshold at 0.7 of v1's:
    more sensitive) in one run: the challenger's rows beside the champion's, keyed by its
    version, its scores equal to the champion's, its events a superset; the comparison
    view agrees with the tables; no alert from it; a re-run changes nothing. A challenger
    that cannot be used is a warning, never the champion's failure; promoting it ends it."""
    settings = with_schema(pipeline["base"]).with_overrides(model={"name": f"challenged-{uuid.uuid4().hex[:6]}"})
    conf, champion = settings.model, registry.load(pipeline["settings"].model).detector
    example = features_frame(pipeline["events"].head(60), settings.features.spec()).head(40)
    sensitive = champion.with_thresholds({a: 0.7 * c.threshold for a, c in champion.calibrations.items()})
    registry.client(conf)
    for i, detector in enumerate((champion, sensitive)):
        with mlflow.start_run(experiment_id=registry.experiment_id(conf)):
            registry.log_detector(conf, detector, example, pipeline["tmp"] / f"challenged-{i}")
    registry.promote(conf, 1)
    registry.set_challenger(conf, 2)
    with pytest.raises(ModelError, match="is the champion"):
        registry.set_challenger(conf, 1)

    span = TimeRange(at(WARMUP), at(END))
    summary = run_predict(spark, settings, span=span)
    assert summary.details.challenger["version"] == 2 and "error" not in summary.details.challenger
    ours, theirs = table(settings, ANOMALY_SCORES), table(settings, CHALLENGER_SCORES)
    assert len(theirs) == len(ours) == 4 * (END - WARMUP) and (theirs.model_version == 2).all()
    assert (ours.model_version == 1).all() and (theirs.run_id == summary.run_id).all()
    key = ["asset_id", "interval_start"]
    pair = ours.merge(theirs, on=key, suffixes=("", "_c"))
    assert np.array_equal(pair.score.to_numpy(), pair.score_c.to_numpy(), equal_nan=True)  # same network and inputs
    assert np.allclose(pair.threshold_c, 0.7 * pair.threshold) and (pair.is_anomaly <= pair.is_anomaly_c).all()
    assert pair.is_anomaly_c.sum() > pair.is_anomaly.sum()
    events, challenger_events = table(settings, ANOMALY_EVENTS), table(settings, CHALLENGER_EVENTS)
    assert (challenger_events.model_version == 2).all() and len(challenger_events) >= len(events) > 0
    # only the champion alerts
    assert sorted(k for k, _ in read_alerts(settings)) == sorted(event_id(a, s) for a, s in
                                                                 zip(events.asset_id, events.event_start))
    run = table(settings, PREDICTION_RUNS).iloc[0]
    assert run.challenger_version == 2 and run.challenger_s > 0 and not any("challenger" in w for w in run.warnings)

    # The view, against the tables.
    store = SqlStore(settings).with_views()
    view = pd.DataFrame(store.query(q.model_comparison(store.target)), columns=q.COMPARISON_COLUMNS)
    assert len(view) == 4 and set(view.champion_version) == {1} and set(view.challenger_version) == {2}
    for row in view.itertuples():
        mine = pair[pair.asset_id == row.asset_id]
        assert row.intervals == len(mine)
        assert row.agreement == pytest.approx((mine.is_anomaly == mine.is_anomaly_c).mean())

        own = events[events.asset_id == row.asset_id]
        other = challenger_events[challenger_events.asset_id == row.asset_id]
        assert row.champion_events == len(own) and row.challenger_events == len(other)
        assert row.matched_events == overlapping(own, other)
        assert row.missed_events == 0 == len(own) - row.matched_events  # a more sensitive challenger misses nothing
        assert row.extra_events == len(other) - overlapping(other, own)
    assert view.extra_events.sum() > 0

    monkeypatch.setenv("SENSORWATCH__SQL__SCHEMA", settings.sql.schema_)
    monkeypatch.setenv("SENSORWATCH__MODEL__TRACKING_URI", str(conf.tracking_uri))
    monkeypatch.setenv("SENSORWATCH__MODEL__NAME", conf.name)
    assert main(["model", "compare"]) == 0 and main(["model", "list"]) == 0
    out = capsys.readouterr().out
    assert f"v2 against v1: 4 asset(s), {len(pair)} intervals" in out and "missed 0" in out
    assert "v2    challenger" in out

    # A re-run writes the same rows (replay-safe), beside the same champion rows.
    run_predict(spark, settings, span=span)
    for t, before in ((CHALLENGER_SCORES, theirs), (CHALLENGER_EVENTS, challenger_events)):
        pd.testing.assert_frame_equal(table(settings, t).drop(columns=LINEAGE), before.drop(columns=LINEAGE), obj=t.name)

    # A challenger that does not match the features: a warning, the champion's run as before.
    foreign = registry.load(conf, 2)
    register_foreign_signature(conf, foreign.detector.saved_in, foreign.detector.spec.columns)
    registry.set_challenger(conf, 3)
    broken = run_predict(spark, settings, at=at(END))
    assert broken.status == "succeeded" and "pressure__kurtosis" in broken.details.challenger["error"]
    assert any(w.startswith("challenger v3 not scored") for w in broken.details.warnings)
    assert (table(settings, CHALLENGER_SCORES).model_version == 2).all()

    # Promotion is deliberate, and ends the challenger's time as one.
    registry.set_challenger(conf, 2)
    assert main(["model", "promote", "2"]) == 0
    assert registry.champion_version(conf) == 2 and registry.challenger_version(conf) is None
    assert registry.clear_challenger(conf) is None


def test_the_superset_dashboard_shows_the_results_in_a_browser(pipeline, tmp_path):
    """Superset (its own environment) provisioned from conf/superset on this run's schema:
    the connection is the read-only BI login, headless Chromium logs in, every chart gets
    rows (those the views hold), a screenshot is written; provisioning again updates the
    same objects."""
    from sensorwatch.operations.dashboard import BI_ROLE, SLUG, Api, check, provision

    settings = pipeline["settings"]
    board = provision(settings)
    events = table(settings, ANOMALY_EVENTS)
    worst = events.assign(severity=events.peak_score / events.threshold).sort_values("severity").iloc[-1]
    assert board.asset == worst.asset_id and len(board.charts) == 5
    api = Api(settings)
    databases = api.get("/api/v1/database/")["result"]
    mine = [d for d in databases if d["database_name"] == "sensorwatch"]
    assert len(mine) == 1
    uri = api.get(f"/api/v1/database/{mine[0]['id']}/connection")["result"]["sqlalchemy_uri"]
    assert uri.startswith(f"crate://{BI_ROLE}:") and uri.endswith(f"/?schema={settings.sql.schema_}")

    seen = check(settings, board, tmp_path / "dashboard.png")
    assert seen["errors"] == [] and seen["statuses"] == [200] and "Sensorwatch" in seen["title"]
    rows = {name: seen["rows"].get(str(i)) for name, i in board.charts.items()}
    scored = table(settings, ANOMALY_SCORES)
    minutes = scored[scored.asset_id == worst.asset_id].interval_start.dt.floor("min").nunique()
    assert rows["Fleet status"] == 4 and rows["Alerts and feedback"] == 4  # four pumps, one model version
    assert rows[f"Score vs threshold: {worst.asset_id}"] == minutes
    levels = settings.alerts.severity_levels  # one row per severity band (open/closed: its series)
    assert rows["Events by severity and kind"] == len(
        {sum(s >= level for level in levels) for s in events.peak_score / events.threshold})
    forecasts = table(settings, SENSOR_FORECASTS)
    shown = forecasts[(forecasts.asset_id == worst.asset_id) & (forecasts.sensor == worst.sensors[0])
                      & (forecasts.steps_ahead == forecasts.steps_ahead.max())]
    minutes_shown = pd.to_datetime(shown.target_start).dt.floor("min").nunique()  # the chart's time grain
    assert rows[f"Forecast vs actual: {worst.asset_id} {worst.sensors[0]}"] == minutes_shown > 0
    png = (tmp_path / "dashboard.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000

    again = provision(settings)
    assert again.charts == board.charts
    assert [d["slug"] for d in api.get("/api/v1/dashboard/")["result"]].count(SLUG) == 1


def test_the_crate_console_and_crash_answer_a_bi_query_as_the_bi_login(pipeline, tmp_path, monkeypatch):
    """CrateDB's Admin UI (the Crate console), opened in headless Chromium as the BI login,
    runs a docs/bi.md query in its Console: the page shows the rows the login reads over
    the PostgreSQL protocol. CrateDB's shell, crash, runs the same query as that login."""
    from sensorwatch.operations.console import check
    from sensorwatch.operations.dashboard import BI_ROLE, bi_password

    settings = pipeline["settings"]
    example = doc_sql_blocks("sql")[1]  # the fleet by status
    assert "v_asset_health" in example
    query = example.replace("FROM v_", f'FROM "{settings.sql.schema_}".v_')
    seen = check(settings, query, tmp_path / "console.png")
    conf, password = settings.sql, bi_password(settings)
    with psycopg.connect(host=conf.host, port=conf.port, dbname=conf.database, user=BI_ROLE, password=password,
                         autocommit=True) as bi:
        expected = [[str(v) for v in row] for row in bi.execute(query).fetchall()]
    assert seen["error"] == "" and seen["user"] == BI_ROLE and seen["headers"] == ["status", "assets"]
    assert seen["rows"] == expected and sum(int(n) for _, n in expected) == 4  # four pumps
    png = (tmp_path / "console.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000

    monkeypatch.setenv("CRATEPW", password)  # crash reads the password from the environment
    shell = subprocess.run([str(Path(sys.executable).with_name("crash")), "--hosts",
                            f"http://{conf.host}:{settings.sql.http_port}", "-U", BI_ROLE,
                            "--format", "json", "-c", query], capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0, shell.stderr
    answer = json.loads(shell.stdout[:shell.stdout.rindex("]") + 1])
    assert [[str(r["status"]), str(r["assets"])] for r in answer] == expected
    monkeypatch.setenv("CRATEPW", "wrong")
    refused = subprocess.run([str(Path(sys.executable).with_name("crash")), "--hosts",
                              f"http://{conf.host}:{settings.sql.http_port}", "-U", BI_ROLE,
                              "-c", query], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "401 Client Error: Unauthorized" in (refused.stdout + refused.stderr)


def test_secrets_never_reach_logs_run_records_mlflow_or_printed_commands(pipeline, monkeypatch, capsys, caplog,
                                                                        tmp_path):
    """With known secret values in the environment (the store's and Kafka's passwords),
    features, training, prediction and a printed spark-submit command run; the values are
    nowhere in what they print or log, in job_runs or prediction_runs, in the MLflow store
    (every file: parameters, tags, artifacts) or in the services' logs."""
    import logging

    settings = with_schema(pipeline["base"])
    secrets = [f"sql-{uuid.uuid4().hex}", f"kafka-{uuid.uuid4().hex}"]
    env = {"SENSORWATCH_SQL_PASSWORD": secrets[0], "SENSORWATCH_KAFKA_PASSWORD": secrets[1],
           "SENSORWATCH__SQL__SCHEMA": settings.sql.schema_, "SENSORWATCH__STORAGE__ROOT": settings.storage.root,
           "SENSORWATCH__MODEL__TRACKING_URI": str(tmp_path / "mlflow"), "SENSORWATCH__ALERTS__TOPIC": f"s-{uuid.uuid4().hex[:8]}",
           **{f"SENSORWATCH__MODEL__DETECTOR__{k.upper()}": str(v) for k, v in SMALL.items()}}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    assert main(["features", "--from", at(0).isoformat(), "--to", at(END).isoformat()]) == 0
    assert main(["train", "--from", at(0).isoformat(), "--to", at(WARMUP).isoformat()]) == 0
    assert main(["predict", "--from", at(WARMUP).isoformat(), "--to", at(END).isoformat()]) == 0
    assert main(["submit", "predict", "--at", at(END).isoformat()]) == 0
    printed = capsys.readouterr()
    texts = {"stdout": printed.out, "stderr": printed.err, "logs": caplog.text}
    for t in (JOB_RUNS, PREDICTION_RUNS):
        texts[t.name] = table(settings, t).to_csv()
    assert "spark-submit" in texts["stdout"] and len(table(settings, JOB_RUNS)) >= 3
    files = [p for p in (tmp_path / "mlflow").rglob("*") if p.is_file()]
    files += [p for p in (settings.home / "log").glob("*.log")]
    assert any(p.name == "mlflow.db" for p in files)
    for secret in secrets:
        leaks = {name: text[max(0, text.find(secret) - 300):text.find(secret) + 100]
                 for name, text in texts.items() if secret in text}
        assert not leaks
        assert not [p for p in files if secret.encode() in p.read_bytes()]


def test_the_hourly_forecast_reads_three_days_of_features_and_says_when_a_limit_may_be_passed(pipeline, spark):
    """`sensorwatch forecast`: the hourly means of the features in the store -> the next 24
    hours of every sensor of every asset (statsforecast), the last hour's actual; pressure has
    a high limit the forecast reaches, which v_asset_health reports and a predicted_limit
    alert announces once; a re-run writes the same rows and announces nothing."""
    from sensorwatch.pipeline.long_forecast import run_long_forecast

    settings = with_schema(pipeline["base"]).with_overrides(forecast={"limits": {"pressure": {"high": 3.0}}})
    assert run_predict(spark, settings, at=at(780)).status == "succeeded"  # the pumps' scores: v_asset_health
    store = SqlStore(settings)
    issued = at(0).replace(minute=0)  # 08:00: three days of features before it
    rows = []
    for asset in ("pump-0000", "pump-0001"):
        for k in range(3 * 24 * 6):  # every 10 minutes
            t = issued - timedelta(minutes=10 * (3 * 24 * 6 - k))
            values = {f"{s}__mean": 1.0 + 0.1 * i + 0.02 * (k / 6) for i, s in enumerate(SENSOR_NAMES)}
            values["pressure__mean"] = 2.0 + k / 432  # climbing to 3.0 at the issue hour
            rows.append({"asset_id": asset, "interval_start": t, "event_count": 1, "missing_sensors": 0,
                         "missing_intervals": 0, "after_gap": False, "day": t.replace(hour=0, minute=0), **values})
    store.upsert(SENSOR_FEATURES, rows)
    first = run_long_forecast(spark, settings, at=issued + timedelta(minutes=20))
    assert first.status == "succeeded" and first.details.assets >= 2
    made = table(settings, SENSOR_FORECASTS)
    long = made[(made.horizon == "long") & made.asset_id.isin(["pump-0000", "pump-0001"])]
    ahead = long[long.steps_ahead > 0]
    assert len(ahead) == 2 * 8 * 24 and set(pd.to_datetime(ahead.issued_at, utc=True)) == {pd.Timestamp(issued)}
    assert ((ahead.lo95 <= ahead.forecast) & (ahead.forecast <= ahead.hi95)).all() and set(ahead.step_s) == {3600}
    assert len(long[long.steps_ahead == 0]) == 2 * 8 and ahead.method.eq(settings.forecast.long_method).all()
    pressure = ahead[ahead.sensor == "pressure"]
    assert pressure.p_beyond_limit.max() > 0.3 and ahead[ahead.sensor == "current"].p_beyond_limit.isna().all()
    health = {r.asset_id: r for r in store.query(
        f"SELECT asset_id, limit_at, limit_probability, limit_sensors FROM {store.name('v_asset_health')}")}
    assert health["pump-0000"].limit_sensors == ["pressure"] and health["pump-0000"].limit_probability > 0.3
    limit_alerts = [(k, v) for k, v in read_alerts(settings) if v and v.get("kind") == "predicted_limit"]
    assert [k for k, _ in limit_alerts] == ["pump-0000|predicted_limit|pressure", "pump-0001|predicted_limit|pressure"]
    assert {v["status"] for _, v in limit_alerts} == {"predicted"} and first.details.limit_alerts == 2
    again = run_long_forecast(spark, settings, at=issued + timedelta(minutes=50))
    assert again.rows_out == first.rows_out and again.details.limit_alerts == 0
    pd.testing.assert_frame_equal(table(settings, SENSOR_FORECASTS).drop(columns=LINEAGE), made.drop(columns=LINEAGE))
