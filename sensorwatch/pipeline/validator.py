"""Validate Kafka messages against the sensor-event schema: Arrow batch in, Arrow batch out.

Pure library code (no Spark): ``validate_batch`` takes the Kafka columns and returns the
typed event columns, the Kafka lineage, ``extras`` and ``_reasons`` (empty when valid).
Spark runs it through ``mapInArrow`` (see ``sensorwatch.pipeline.ingestion.parse_events``).

The rules come from ``schemas.SENSOR_EVENT`` (see ``schemas/records.py`` for the wire
format) plus the ranges in conf ``ingest``. Every problem of an event is reported.
Why Python and not Spark SQL expressions: bench/validation.py compares them (README, "Benchmarks").
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute  # pa.compute

from schemas import ASSET_ID_MAX_LEN, SENSOR_EVENT, SENSOR_NAMES, Field, Kind
from schemas.core import arrow_type
from schemas.errors import DataError

_INT64 = (-(2**63), 2**63 - 1)
# kind -> (accepted Python types after JSON decoding, words for the reason)
WIRE_TYPES: dict[Kind, tuple[tuple[type, ...], str]] = {
    Kind.STRING: ((str,), "string"),
    Kind.BIGINT: ((int,), "integer"),
    Kind.TIMESTAMP: ((int,), "integer epoch milliseconds"),
    Kind.DOUBLE: ((int, float), "number"),
}
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}
KNOWN = frozenset(f.name for f in SENSOR_EVENT.fields)
LINEAGE = ("key", "payload", "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp")
_FROM_KAFKA = {"key": "key", "payload": "value", "kafka_topic": "topic", "kafka_partition": "partition",
               "kafka_offset": "offset", "kafka_timestamp": "timestamp"}

# The columns of Spark's Kafka source (format "kafka"), as Arrow types: the validator's input.
ARROW_COLUMNS = pa.schema([
    ("key", pa.binary()), ("value", pa.binary()), ("topic", pa.string()), ("partition", pa.int32()),
    ("offset", pa.int64()), ("timestamp", pa.timestamp("us", tz="UTC")), ("timestampType", pa.int32()),
])

PARSED_SCHEMA = pa.schema(
    [f.arrow_field().with_nullable(True) for f in SENSOR_EVENT.fields]
    + [pa.field("extras", arrow_type(Kind.STRING_MAP)),
       pa.field("key", pa.binary()), pa.field("payload", pa.binary()), pa.field("kafka_topic", pa.string()),
       pa.field("kafka_partition", pa.int32()), pa.field("kafka_offset", pa.int64()),
       pa.field("kafka_timestamp", pa.timestamp("us", tz="UTC")),
       pa.field("_reasons", pa.list_(pa.string()))]
)


@dataclass(frozen=True)
class EventRules:
    """The ranges the validator enforces beyond the schema's types (conf ``ingest``)."""

    min_event_time: datetime
    max_future_skew_s: int
    max_payload_bytes: int = 65_536

    @property
    def min_ms(self) -> int:
        return int(self.min_event_time.timestamp() * 1000)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


class MalformedJson(DataError):
    """A payload that is not JSON we can read; the message is the quarantine reason."""


def duplicate_keys(payload: bytes) -> list[str]:
    """The keys that occur more than once in one object of ``payload`` (valid JSON), in
    the order found; JSON leaves duplicates undefined and parsers keep the last, so an
    event with them is ambiguous and quarantined."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:  # the object as its pairs
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and key not in found:
                found.append(key)
            seen.add(key)
        return items

    try:
        json.loads(payload, object_pairs_hook=pairs, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return []  # not for this check to judge: _decode reports it
    return found


def _one_key_each(payload: bytes, body: dict) -> bool:
    """For the column-wise path: True only if ``payload`` cannot hold a duplicate key. Every
    key in the text is followed by one colon; a duplicate (also one spelled with escapes)
    adds a colon without adding to ``body``, and so does a string value with a colon in it:
    as many colons as keys proves there is none (else the per-row path decides exactly)."""
    return payload.count(b":") == len(body)


def _bad_text(value: str) -> str | None:
    """Why a string cannot be stored as it is: a lone surrogate (not encodable as UTF-8),
    or a control character (a NUL breaks SQL text columns and C strings; the rest breaks logs and CSV)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8: a lone surrogate"
    if _CONTROL.search(value):
        return "control characters"
    return None


def _decode(payload: bytes) -> Any:
    """Strict JSON. orjson first (fast); the stdlib only for what orjson refuses but JSON
    allows (numbers that overflow a double, which we then report as non-finite).

    orjson refuses nesting deeper than 1024; the stdlib would recurse until Python's limit and
    raise RecursionError, which must never escape (one message would fail every retry of its
    batch): nesting that deep is reported as malformed, without a second parse.
    """
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        if "recursion limit" in str(exc):
            raise MalformedJson("malformed_json (nesting too deep)") from None
    try:
        return json.loads(payload, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedJson("malformed_json (nesting too deep)") from None
    except ValueError:
        raise MalformedJson("malformed_json") from None


def _type_name(value: Any) -> str:
    return _JSON_TYPE.get(type(value), type(value).__name__)


def check_event(body: Any, kafka_ts_ms: int | None, rules: EventRules) -> tuple[list[Any], dict | None, list[str]]:
    """One decoded message -> (typed values in SENSOR_EVENT order, extras, reasons)."""
    if not isinstance(body, dict):
        return [None] * len(SENSOR_EVENT.fields), None, ["not_a_json_object"]
    reasons: list[str] = []
    values: list[Any] = []
    readings = 0
    for f in SENSOR_EVENT.fields:
        value = _check_field(f, body.get(f.name), kafka_ts_ms, rules, reasons)
        if f.name in SENSOR_NAMES and value is not _WRONG and body.get(f.name) is not None:
            readings += 1
        values.append(None if value is _WRONG else value)
    if readings == 0:
        reasons.append("no_sensor_readings")
    extras = None
    if any(k not in KNOWN for k in body):
        try:
            extras = {k: orjson.dumps(v).decode() for k, v in body.items() if k not in KNOWN} or None
        except orjson.JSONEncodeError:  # deeper than orjson writes (1024): what it did not read either
            raise MalformedJson("malformed_json (nesting too deep)") from None
    return values, extras, reasons


_WRONG = object()


def _check_field(f: Field, value: Any, kafka_ts_ms: int | None, rules: EventRules, reasons: list[str]) -> Any:
    if value is None:
        if not f.nullable:
            reasons.append(f"missing_field:{f.name}")
        return None
    accepted, words = WIRE_TYPES[f.kind]
    if type(value) not in accepted:  # exact types: a bool is not a number here
        reasons.append(f"wrong_type:{f.name} (expected {words}, got {_type_name(value)})")
        return _WRONG
    if f.kind in (Kind.BIGINT, Kind.TIMESTAMP) and not _INT64[0] <= value <= _INT64[1]:
        reasons.append(f"out_of_range:{f.name} (not a 64-bit integer)")
        return _WRONG
    if f.kind == Kind.TIMESTAMP:
        if value < rules.min_ms:
            reasons.append(f"out_of_range:{f.name} (before {rules.min_event_time.isoformat()})")
        reference = kafka_ts_ms if kafka_ts_ms is not None else int(time.time() * 1000)
        if value > reference + rules.max_future_skew_s * 1000:
            reasons.append(f"out_of_range:{f.name} (more than {rules.max_future_skew_s}s after the Kafka timestamp)")
    elif f.kind == Kind.DOUBLE:
        value = float(value)
        if not math.isfinite(value):
            reasons.append(f"out_of_range:{f.name} (not finite)")
            return None
    elif f.kind == Kind.STRING:
        if f.name == "asset_id" and not 1 <= len(value) <= ASSET_ID_MAX_LEN:
            reasons.append(f"invalid_value:asset_id (must be 1-{ASSET_ID_MAX_LEN} characters)")
        if (why := _bad_text(value)) is not None:
            reasons.append(f"invalid_value:{f.name} ({why})")
            return _WRONG
    return value


def _validate_one(payload: bytes | None, kafka_ts_ms: int | None, rules: EventRules,
                  width: int) -> tuple[list[Any], dict | None, list[str]]:
    """One message -> (values, extras, reasons). Never raises: whatever one message does to the
    checks ends as a reason, so the batch (and every retry of it) goes on."""
    if not payload:
        return [None] * width, None, ["empty_payload"]
    if len(payload) > rules.max_payload_bytes:
        return [None] * width, None, [f"payload_too_large ({len(payload)} bytes > {rules.max_payload_bytes})"]
    try:
        values, extras, reasons = check_event(_decode(payload), kafka_ts_ms, rules)
        # Rows here are rare (invalid, or with extras): the exact check on every one.
        reasons += [f"duplicate_key:{key}" for key in duplicate_keys(payload)]
        return values, extras, reasons
    except MalformedJson as exc:
        return [None] * width, None, [str(exc)]
    except Exception as exc:  # noqa: BLE001 - the contract: no message stops ingest
        return [None] * width, None, [f"unreadable_message ({type(exc).__name__}: {str(exc)[:200]})"]


def _field_arrays(columns: list[list[Any]]) -> list[pa.Array]:
    """Python values in SENSOR_EVENT order -> Arrow arrays of PARSED_SCHEMA's types."""
    arrays = []
    for f, column in zip(SENSOR_EVENT.fields, columns):
        if f.kind == Kind.TIMESTAMP:
            arrays.append(pa.array(column, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
                          .cast(PARSED_SCHEMA.field(f.name).type))
        else:
            arrays.append(pa.array(column, PARSED_SCHEMA.field(f.name).type))
    return arrays


def _per_row(payloads: list[bytes | None], kafka_ms: list[int | None],
             rules: EventRules) -> tuple[list[pa.Array], list[Any], list[list[str]]]:
    """The reference path: every message on its own (every reason, extras)."""
    columns: list[list[Any]] = [[] for _ in SENSOR_EVENT.fields]
    extras_col: list[Any] = []
    reasons_col: list[list[str]] = []
    width = len(SENSOR_EVENT.fields)
    for payload, ts_ms in zip(payloads, kafka_ms):
        values, extras, reasons = _validate_one(payload, ts_ms, rules, width)
        for column, value in zip(columns, values):
            column.append(value)
        extras_col.append(None if extras is None else list(extras.items()))
        reasons_col.append(reasons)
    return _field_arrays(columns), extras_col, reasons_col


_NONE = type(None)
_EVENT_TIME = [f.name for f in SENSOR_EVENT.fields].index("event_time")
# Exact Python types (after orjson) that the column-wise path takes as they are; anything
# else (a bool, a string number, ...) goes to the per-row path, which names the reason.
_FAST_TYPES: dict[Kind, frozenset[type]] = {
    Kind.STRING: frozenset((str, _NONE)), Kind.BIGINT: frozenset((int, _NONE)),
    Kind.TIMESTAMP: frozenset((int, _NONE)), Kind.DOUBLE: frozenset((float, int, _NONE))}


def _proven_valid(payloads: list[bytes | None], kafka_ms: pa.Array,
                  rules: EventRules) -> tuple[list[int], list[pa.Array]]:
    """The column-wise path: the rows it can prove valid, and their field arrays.

    A row qualifies if orjson reads it as an object with only known fields of exactly the
    accepted types; then the range rules are checked on whole columns. Every other row
    (malformed, extras, a wrong type, a failed check) is left to the per-row path, so a
    row's result never depends on which path took it (tests compare both paths).
    """
    loads, known = orjson.loads, KNOWN.issuperset
    rows: list[int] = []
    bodies: list[dict] = []
    for i, payload in enumerate(payloads):
        if payload is None or len(payload) > rules.max_payload_bytes:
            continue
        try:
            body = loads(payload)
        except Exception:  # noqa: BLE001 - malformed, too deep: the per-row path says which
            continue
        if type(body) is dict and known(body) and _one_key_each(payload, body):
            rows.append(i)
            bodies.append(body)
    columns: list = []
    for f in SENSOR_EVENT.fields:
        accepted, name = _FAST_TYPES[f.kind], f.name
        column = [b.get(name) for b in bodies]
        if not accepted.issuperset(map(type, column)):
            keep = [j for j, v in enumerate(column) if type(v) in accepted]
            rows, bodies = [rows[j] for j in keep], [bodies[j] for j in keep]
            columns = [[c[j] for j in keep] for c in columns]
            column = [column[j] for j in keep]
        columns.append(column)
    if not rows:
        return [], []
    try:
        arrays = _field_arrays(columns)
    except (pa.ArrowInvalid, OverflowError):  # an integer beyond 64 bits, or beyond a double's exact range
        return [], []
    by_name = dict(zip((f.name for f in SENSOR_EVENT.fields), arrays))
    pc = pa.compute
    event_ms = pa.array(columns[_EVENT_TIME], pa.int64())  # epoch ms, as on the wire
    skew_ms = pc.add(kafka_ms.take(pa.array(rows)), rules.max_future_skew_s * 1000)
    length = pc.utf8_length(by_name["asset_id"])
    clean = pc.invert(pc.match_substring_regex(by_name["asset_id"], _CONTROL.pattern))
    ok = [pc.is_valid(by_name[f.name]) for f in SENSOR_EVENT.fields if not f.nullable]
    ok += [pc.greater_equal(event_ms, rules.min_ms), pc.less_equal(event_ms, skew_ms),
           pc.greater_equal(length, 1), pc.less_equal(length, ASSET_ID_MAX_LEN), clean]
    readings = [pc.is_valid(by_name[name]) for name in SENSOR_NAMES]
    any_reading = readings[0]
    for r in readings[1:]:
        any_reading = pc.or_(any_reading, r)
    valid = any_reading
    for condition in ok:
        valid = pc.and_kleene(valid, condition)
    valid = pc.fill_null(valid, False)  # an unknown (null) comparison is not a proof
    positions = pc.indices_nonzero(valid)
    return pc.take(pa.array(rows), positions).to_pylist(), [a.take(positions) for a in arrays]


def validate_batch(batch: pa.RecordBatch, rules: EventRules) -> pa.RecordBatch:
    """Kafka columns (key, value, topic, partition, offset, timestamp, ...) -> PARSED_SCHEMA.

    Valid rows take a column-wise path (orjson per message, then type and range checks on
    whole Arrow columns); the others the per-row path that names every reason. Measured
    (bench/validation.py): ~4x cheaper per valid row than the per-row path alone.
    """
    n = batch.num_rows
    payloads = batch.column("value").to_pylist()
    kafka_ms = pa.compute.divide(batch.column("timestamp").cast(pa.int64()), 1000)  # microseconds -> ms
    fast_rows, fast_arrays = _proven_valid(payloads, kafka_ms, rules)
    fast = set(fast_rows)
    slow_rows = [i for i in range(n) if i not in fast]
    slow_ms = kafka_ms.take(pa.array(slow_rows, pa.int64())).to_pylist()
    slow_arrays, slow_extras, slow_reasons = _per_row([payloads[i] for i in slow_rows], slow_ms, rules)
    if not fast_rows:  # nothing proven valid: empty arrays of the same types
        fast_arrays = [a.slice(0, 0) for a in slow_arrays]
    # Back into the batch's order: fast rows first, then slow ones, permuted by their positions.
    back = pa.array(np.argsort(np.array(fast_rows + slow_rows, dtype=np.int64), kind="stable"))
    arrays = [pa.concat_arrays([f, s]).take(back) for f, s in zip(fast_arrays, slow_arrays)]
    extras_type = PARSED_SCHEMA.field("extras").type
    arrays.append(pa.concat_arrays([pa.nulls(len(fast_rows), extras_type),
                                    pa.array(slow_extras, extras_type)]).take(back))
    reasons = pa.concat_arrays([pa.array([[]] * len(fast_rows), PARSED_SCHEMA.field("_reasons").type),
                                pa.array(slow_reasons, PARSED_SCHEMA.field("_reasons").type)]).take(back)
    # The raw key and payload only matter for quarantine: keep them for invalid rows only,
    # so valid rows do not carry their bytes back to Spark and through the batch cache.
    invalid = pa.compute.greater(pa.compute.list_value_length(reasons), 0)
    for name in LINEAGE:
        column = batch.column(_FROM_KAFKA[name]).cast(PARSED_SCHEMA.field(name).type)
        arrays.append(pa.compute.if_else(invalid, column, pa.nulls(len(column), column.type))
                      if name in ("key", "payload") else column)
    arrays.append(reasons)
    return pa.RecordBatch.from_arrays(arrays, schema=PARSED_SCHEMA)


def validate_batches(batches: Iterator[pa.RecordBatch], rules: EventRules) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield validate_batch(batch, rules)
