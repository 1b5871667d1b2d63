"""The pure validation transform on small DataFrames: every malformed kind gets its reason."""

import json
from datetime import datetime, timezone

import pytest

from sensorwatch.connectors.kafka_source import KAFKA_COLUMNS
from sensorwatch.ingest import EventRules, landing_rows, parse_events, quarantine_rows
from sensorwatch.sources.produce import bad_payloads, encode_event

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)
RULES = EventRules(datetime(2000, 1, 1, tzinfo=timezone.utc), 3600)


def _frame(spark, payloads):
    rows = [(b"k", p, "t", 0, i, NOW, 0) for i, p in enumerate(payloads)]
    return spark.createDataFrame(rows, KAFKA_COLUMNS)


def _parsed(spark, payloads):
    return {r["kafka_offset"]: r for r in parse_events(_frame(spark, payloads), RULES).collect()}


def test_valid_event_is_typed(spark):
    good = encode_event("pump-1", NOW_MS - 1000, 7, {"current": 1.25, "pressure": 0.5, "voltage": 230.0})
    row = _parsed(spark, [good])[0]
    assert row["_reasons"] == [] and row["asset_id"] == "pump-1" and row["seq"] == 7
    assert row["event_time"] == datetime(2026, 11, 21, 11, 59, 59)  # session time zone is UTC
    assert row["current"] == 1.25 and row["temperature"] is None and row["extras"] is None


def test_integers_are_accepted_as_numbers(spark):
    body = json.dumps({"asset_id": "a", "event_time": NOW_MS, "current": 2}).encode()
    row = _parsed(spark, [body])[0]
    assert row["_reasons"] == [] and row["current"] == 2.0


@pytest.mark.parametrize("expected,payload", bad_payloads(11, now_ms=NOW_MS), ids=lambda x: str(x)[:30])
def test_each_malformed_kind_gets_its_reason(spark, expected, payload):
    row = _parsed(spark, [payload])[0]
    assert any(r.startswith(expected) for r in row["_reasons"]), row["_reasons"]


def test_several_problems_are_all_reported(spark):
    body = json.dumps({"event_time": "yesterday", "current": "high", "pressure": 1}).encode()
    reasons = _parsed(spark, [body])[0]["_reasons"]
    assert "missing_field:asset_id" in reasons
    assert "wrong_type:event_time (expected integer epoch milliseconds, got string)" in reasons
    assert "wrong_type:current (expected number, got string)" in reasons


def test_number_as_string_and_null_required_field(spark):
    a = json.dumps({"asset_id": "a", "event_time": NOW_MS, "current": "1.5"}).encode()
    b = json.dumps({"asset_id": None, "event_time": NOW_MS, "current": 1.5}).encode()
    c = b'{"asset_id": "a", "event_time": %d, "current": 1e400}' % NOW_MS  # valid JSON, overflows a double
    d = json.dumps({"asset_id": "a", "event_time": 10**22, "current": 1}).encode()
    rows = _parsed(spark, [a, b, c, d])
    assert rows[0]["_reasons"] == ["wrong_type:current (expected number, got string)", "no_sensor_readings"]
    assert rows[1]["_reasons"] == ["missing_field:asset_id"]
    assert rows[2]["_reasons"] == ["out_of_range:current (not finite)"]
    assert any(r.startswith("wrong_type:event_time") for r in rows[3]["_reasons"])


def test_unknown_fields_are_kept_as_extras(spark):
    body = json.dumps({"asset_id": "a", "event_time": NOW_MS, "current": 1.0, "vibration_z": 0.3,
                       "meta": {"fw": "1.2"}}).encode()
    row = _parsed(spark, [body])[0]
    assert row["_reasons"] == [] and row["extras"] == {"vibration_z": "0.3", "meta": '{"fw":"1.2"}'}


def test_landing_and_quarantine_split_loses_nothing(spark):
    good = [encode_event(f"p{i}", NOW_MS - i * 1000, i, {"current": 1.0}) for i in range(30)]
    bad = [p for _, p in bad_payloads(11, now_ms=NOW_MS)]
    parsed = parse_events(_frame(spark, good + bad), RULES)
    landing = landing_rows(parsed, NOW).collect()
    quarantine = quarantine_rows(parsed, NOW).collect()
    assert len(landing) == 30 and len(quarantine) == 11
    assert {r["kafka_offset"] for r in landing} | {r["kafka_offset"] for r in quarantine} == set(range(41))
    assert {bytes(r["payload"]) for r in quarantine} == set(bad)  # raw payload kept byte for byte
    assert all(r["reason"] and r["date"] == "2026-11-21" and r["hour"] == 12 for r in quarantine)
    first = next(r for r in landing if r["asset_id"] == "p1")  # 11:59:59
    assert (first["date"], first["hour"]) == ("2026-11-21", 11)


def test_validation_is_deterministic_on_replay(spark):
    """Future-skew is judged against the Kafka timestamp, so a replay validates the same."""
    body = encode_event("a", NOW_MS + 3599_000, 0, {"current": 1.0})
    first = _parsed(spark, [body])[0]["_reasons"]
    assert first == [] and _parsed(spark, [body])[0]["_reasons"] == first
