"""Validate Kafka messages against the sensor-event schema: Arrow batch in, Arrow batch out.

Pure library code (no Spark): ``validate_batch`` takes the Kafka columns and returns the
typed event columns, the Kafka lineage, ``extras`` and ``_reasons`` (empty when valid).
Spark runs it through ``mapInArrow`` (see ``sensorwatch.ingest.parse_events``).

The rules come from ``schemas.SENSOR_EVENT`` (see ``schemas/records.py`` for the wire
format) plus the ranges in conf ``ingest``. Every problem of an event is reported.
Measured: ~25x cheaper per row than the same checks on Spark's VARIANT functions.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

import orjson
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute

from schemas import ASSET_ID_MAX_LEN, SENSOR_EVENT, SENSOR_NAMES, Field, Kind
from schemas.core import arrow_type

_INT64 = (-(2**63), 2**63 - 1)
# kind -> (accepted Python types after JSON decoding, words for the reason)
WIRE_TYPES: dict[Kind, tuple[tuple[type, ...], str]] = {
    Kind.STRING: ((str,), "string"),
    Kind.BIGINT: ((int,), "integer"),
    Kind.TIMESTAMP: ((int,), "integer epoch milliseconds"),
    Kind.DOUBLE: ((int, float), "number"),
}
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

    @property
    def min_ms(self) -> int:
        return int(self.min_event_time.timestamp() * 1000)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


class MalformedJson(ValueError):
    """A payload that is not JSON we can read; the message is the quarantine reason."""


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
        extras = {k: orjson.dumps(v).decode() for k, v in body.items() if k not in KNOWN} or None
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
    elif f.name == "asset_id" and not 1 <= len(value) <= ASSET_ID_MAX_LEN:
        reasons.append(f"invalid_value:asset_id (must be 1-{ASSET_ID_MAX_LEN} characters)")
    return value


def _validate_one(payload: bytes | None, kafka_ts_ms: int | None, rules: EventRules,
                  width: int) -> tuple[list[Any], dict | None, list[str]]:
    """One message -> (values, extras, reasons). Never raises: whatever one message does to the
    checks ends as a reason, so the batch (and every retry of it) goes on."""
    if not payload:
        return [None] * width, None, ["empty_payload"]
    try:
        return check_event(_decode(payload), kafka_ts_ms, rules)
    except MalformedJson as exc:
        return [None] * width, None, [str(exc)]
    except Exception as exc:  # noqa: BLE001 - the contract: no message stops ingest
        return [None] * width, None, [f"unreadable_message ({type(exc).__name__}: {str(exc)[:200]})"]


def validate_batch(batch: pa.RecordBatch, rules: EventRules) -> pa.RecordBatch:
    """Kafka columns (key, value, topic, partition, offset, timestamp, ...) -> PARSED_SCHEMA."""
    payloads = batch.column("value").to_pylist()
    kafka_ts = batch.column("timestamp").cast(pa.int64()).to_pylist()  # microseconds
    columns: list[list[Any]] = [[] for _ in SENSOR_EVENT.fields]
    extras_col: list[Any] = []
    reasons_col: list[list[str]] = []
    width = len(SENSOR_EVENT.fields)
    for payload, ts_us in zip(payloads, kafka_ts):
        values, extras, reasons = _validate_one(payload, None if ts_us is None else ts_us // 1000, rules, width)
        for column, value in zip(columns, values):
            column.append(value)
        extras_col.append(None if extras is None else list(extras.items()))
        reasons_col.append(reasons)
    arrays = []
    for f, column in zip(SENSOR_EVENT.fields, columns):
        if f.kind == Kind.TIMESTAMP:
            arrays.append(pa.array(column, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
                          .cast(PARSED_SCHEMA.field(f.name).type))
        else:
            arrays.append(pa.array(column, PARSED_SCHEMA.field(f.name).type))
    arrays.append(pa.array(extras_col, PARSED_SCHEMA.field("extras").type))
    # The raw key and payload only matter for quarantine: keep them for invalid rows only,
    # so valid rows do not carry their bytes back to Spark and through the batch cache.
    invalid = pa.array([bool(r) for r in reasons_col], pa.bool_())
    for name in LINEAGE:
        column = batch.column(_FROM_KAFKA[name]).cast(PARSED_SCHEMA.field(name).type)
        arrays.append(pa.compute.if_else(invalid, column, pa.nulls(len(column), column.type))
                      if name in ("key", "payload") else column)
    arrays.append(pa.array(reasons_col, PARSED_SCHEMA.field("_reasons").type))
    return pa.RecordBatch.from_arrays(arrays, schema=PARSED_SCHEMA)


def validate_batches(batches: Iterator[pa.RecordBatch], rules: EventRules) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield validate_batch(batch, rules)
