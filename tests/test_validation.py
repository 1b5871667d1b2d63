"""Validation: the pure Arrow function (no Spark) gets every reason right; the Spark
wrapper gives the same rows and the landing/quarantine split loses nothing."""

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from pyspark.sql.pandas.types import from_arrow_schema

from sensorwatch.pipeline.ingestion import landing_rows, parse_events, quarantine_rows
from sensorwatch.pipeline.validator import ARROW_COLUMNS, EventRules, validate_batch
from sensorwatch.sources.produce import bad_payloads, encode_event

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
RULES = EventRules(datetime(2000, 1, 1, tzinfo=UTC), 3600, 10_000_000)  # size: test_fuzz checks the limit


def _kafka_batch(payloads) -> pa.RecordBatch:
    n = len(payloads)
    return pa.RecordBatch.from_pydict({
        "key": [b"k"] * n, "value": payloads, "topic": ["t"] * n, "partition": [0] * n, "offset": list(range(n)),
        "timestamp": [NOW_MS * 1000] * n, "timestampType": [0] * n}, schema=ARROW_COLUMNS)


def _validate(*payloads) -> list[dict]:
    return validate_batch(_kafka_batch(list(payloads)), RULES).to_pylist()


def test_valid_event_is_typed():
    row = _validate(encode_event("pump-1", NOW_MS - 1000, 7, {"current": 1.25, "pressure": 0.5}))[0]
    assert row["_reasons"] == [] and row["asset_id"] == "pump-1" and row["seq"] == 7
    assert row["event_time"] == datetime(2026, 11, 21, 11, 59, 59, tzinfo=UTC)
    assert row["current"] == 1.25 and row["temperature"] is None and row["extras"] is None
    assert (row["kafka_offset"], row["kafka_topic"]) == (0, "t")
    assert row["payload"] is None and row["key"] is None  # raw bytes are kept for quarantine only


def test_integers_are_accepted_as_numbers():
    row = _validate(json.dumps({"asset_id": "a", "event_time": NOW_MS, "current": 2}).encode())[0]
    assert row["_reasons"] == [] and row["current"] == 2.0


@pytest.mark.parametrize("expected,payload", bad_payloads(11, now_ms=NOW_MS), ids=lambda x: str(x)[:30])
def test_each_malformed_kind_gets_its_reason(expected, payload):
    row = _validate(payload)[0]
    assert any(r.startswith(expected) for r in row["_reasons"]), row["_reasons"]
    assert row["payload"] == payload and row["key"] == b"k"


def test_several_problems_are_all_reported():
    body = json.dumps({"event_time": "yesterday", "current": "high", "pressure": 1}).encode()
    assert _validate(body)[0]["_reasons"] == [
        "missing_field:asset_id",
        "wrong_type:event_time (expected integer epoch milliseconds, got string)",
        "wrong_type:current (expected number, got string)",
    ]


@pytest.mark.parametrize("body,reasons", [
    ({"current": "1.5"}, ["wrong_type:current (expected number, got string)", "no_sensor_readings"]),
    ({"current": True}, ["wrong_type:current (expected number, got boolean)", "no_sensor_readings"]),
    ({"asset_id": None, "current": 1.5}, ["missing_field:asset_id"]),
    ({"asset_id": 42, "current": 1.5}, ["wrong_type:asset_id (expected string, got integer)"]),
    ({"event_time": 1.5e12, "current": 1.5}, ["wrong_type:event_time (expected integer epoch milliseconds, got number)"]),
    ({"seq": 2**63, "current": 1.5}, ["out_of_range:seq (not a 64-bit integer)"]),
    ({"seq": 10**22, "current": 1.5}, ["wrong_type:seq (expected integer, got number)"]),  # decoded as a double
    ({"current": 1.5, "voltage": [1]}, ["wrong_type:voltage (expected number, got array)"]),
])
def test_type_rules(body, reasons):
    full = {"asset_id": "a", "event_time": NOW_MS, **body}
    assert _validate(json.dumps(full).encode())[0]["_reasons"] == reasons


def test_numbers_beyond_a_double_are_not_finite():
    row = _validate(b'{"asset_id": "a", "event_time": %d, "current": 1e400}' % NOW_MS)[0]
    assert row["_reasons"] == ["out_of_range:current (not finite)"] and row["current"] is None
    assert _validate(b'{"asset_id": "a", "event_time": 1, "current": NaN}')[0]["_reasons"] == ["malformed_json"]


@pytest.mark.parametrize("payload", [
    b'{"asset_id": "a", "x": ' + b'{"a": ' * 5000 + b'1' + b'}' * 5000 + b'}',  # 5,000 nested objects
    b'[' * 100_000 + b']' * 100_000,  # 100,000 nested arrays
    b'{"current": 1e999, "x": ' + b'[' * 100_000 + b']' * 100_000 + b'}',  # orjson refuses 1e999 first
])
def test_deep_nesting_is_quarantined_not_raised(payload):
    # One such message used to escape the validator as RecursionError and fail its batch on
    # every retry: it must be one quarantined row, and the rest of the batch goes on.
    good = encode_event("p", NOW_MS, 1, {"current": 1.0})
    rows = _validate(good, payload, good)
    assert [r["_reasons"] for r in rows] == [[], ["malformed_json (nesting too deep)"], []]
    assert rows[1]["payload"] == payload


def test_the_column_wise_path_gives_exactly_the_per_row_results(monkeypatch):
    """Valid rows take a faster, column-wise path: on a batch mixing valid rows with every
    edge of every rule, its output must equal the per-row reference's, row for row."""
    import sensorwatch.pipeline.validator as V

    min_ms, max_ms = RULES.min_ms, NOW_MS + 3600 * 1000

    def event(**fields):
        body = {"asset_id": "p", "event_time": NOW_MS, "seq": 1, "current": 1.5, **fields}
        return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()

    payloads = [encode_event(f"p{i}", NOW_MS - i, i, {"current": 1.0 + i, "pressure": None}) for i in range(50)]
    payloads += [event(current=1), event(current=-0.0), event(seq=None), event(seq=2**63 - 1), event(seq=-(2**63)),
                 event(event_time=min_ms), event(event_time=min_ms - 1), event(event_time=max_ms),
                 event(event_time=max_ms + 1), event(asset_id=""), event(asset_id="a" * 128), event(asset_id="a" * 129),
                 event(asset_id="pümpé-ø"), event(asset_id=None), event(asset_id=...), event(event_time=...),
                 event(current=None), event(current=True), event(current="1.5"), event(seq=1.0), event(event_time=1.5e12),
                 event(asset_id=7), event(extra_field={"a": [1]}), event(current=None, pressure=2.0),
                 b'{"asset_id": "p", "asset_id": "q", "event_time": %d, "current": 1}' % NOW_MS,
                 b"[1]", b"", b"null", b'"text"', b"{bad"]
    payloads += [p for _, p in bad_payloads(40, now_ms=NOW_MS)]
    fast = validate_batch(_kafka_batch(payloads), RULES)
    monkeypatch.setattr(V, "_proven_valid", lambda *_args: ([], []))
    reference = validate_batch(_kafka_batch(payloads), RULES)
    assert fast.to_pylist() == reference.to_pylist()
    assert sum(not r["_reasons"] for r in fast.to_pylist()) > 60  # most took the fast path, and are valid
    # Integers beyond what a column can hold leave the whole batch to the per-row path: same result.
    for huge in (event(seq=2**63), event(current=2**60), event(current=10**400)):
        monkeypatch.undo()
        fast = validate_batch(_kafka_batch([*payloads[:5], huge]), RULES)
        monkeypatch.setattr(V, "_proven_valid", lambda *_args: ([], []))
        assert fast.to_pylist() == validate_batch(_kafka_batch([*payloads[:5], huge]), RULES).to_pylist()


def test_unknown_fields_are_kept_as_extras():
    body = json.dumps({"asset_id": "a", "event_time": NOW_MS, "current": 1.0, "vibration_z": 0.3,
                       "meta": {"fw": "1.2"}}).encode()
    row = _validate(body)[0]
    assert row["_reasons"] == [] and dict(row["extras"]) == {"vibration_z": "0.3", "meta": '{"fw":"1.2"}'}


def test_future_skew_is_judged_against_the_kafka_timestamp():
    """Deterministic on replay: the reference is the message's timestamp, not the clock."""
    ok = encode_event("a", NOW_MS + 3599_000, 0, {"current": 1.0})
    late = encode_event("a", NOW_MS + 3601_000, 0, {"current": 1.0})
    rows = _validate(ok, late)
    assert rows[0]["_reasons"] == []
    assert rows[1]["_reasons"] == ["out_of_range:event_time (more than 3600s after the Kafka timestamp)"]


# --- the Spark wrapper -------------------------------------------------------------


KAFKA_ROWS = from_arrow_schema(ARROW_COLUMNS)  # the rows Spark's Kafka source gives


def _frame(spark, payloads):
    rows = [(b"k", p, "t", 0, i, NOW, 0) for i, p in enumerate(payloads)]
    return spark.createDataFrame(rows, KAFKA_ROWS)


def test_spark_wrapper_gives_the_same_rows_as_the_function(spark):
    payloads = [encode_event(f"p{i}", NOW_MS - i * 1000, i, {"current": 1.0 + i}) for i in range(20)]
    payloads += [p for _, p in bad_payloads(11, now_ms=NOW_MS)]
    via_spark = {r["kafka_offset"]: r.asDict() for r in parse_events(_frame(spark, payloads), RULES).collect()}
    direct = {r["kafka_offset"]: r for r in _validate(*payloads)}
    assert via_spark.keys() == direct.keys()
    for offset, row in direct.items():
        assert via_spark[offset]["_reasons"] == row["_reasons"]
        assert via_spark[offset]["current"] == row["current"]
        assert via_spark[offset]["asset_id"] == row["asset_id"]


def test_landing_and_quarantine_split_loses_nothing(spark):
    good = [encode_event(f"p{i}", NOW_MS - i * 1000, i, {"current": 1.0}) for i in range(30)]
    bad = [p for _, p in bad_payloads(11, now_ms=NOW_MS)]
    parsed = parse_events(_frame(spark, good + bad), RULES)
    landing = landing_rows(parsed, NOW).collect()
    quarantine = quarantine_rows(parsed, NOW).collect()
    assert len(landing) == 30 and len(quarantine) == 11
    assert {r["kafka_offset"] for r in landing} | {r["kafka_offset"] for r in quarantine} == set(range(41))
    assert sorted(bytes(r["payload"]) for r in quarantine) == sorted(bad)  # raw payload kept byte for byte
    assert all(r["reason"] and r["date"] == "2026-11-21" and r["hour"] == 12 for r in quarantine)
    first = next(r for r in landing if r["asset_id"] == "p1")  # 11:59:59 UTC
    assert (first["date"], first["hour"]) == ("2026-11-21", 11)
    assert first["event_time"] == datetime(2026, 11, 21, 11, 59, 59)  # session time zone is UTC
