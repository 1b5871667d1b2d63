"""Validation choices side by side (not a test): the same Kafka batch through

* ``arrow``: the project's validator (``sensorwatch.pipeline.validator``, orjson on Arrow batches in
  Python workers, ``mapInArrow``), and
* ``from_json``: Spark's own JSON functions and column expressions in the JVM, built to give
  the same columns (typed fields, extras, Kafka lineage, every reason, the raw payload of
  bad rows);
* ``jvm_first``: the JVM decides what it can prove valid (one typed ``from_json`` parse, the
  rules as column expressions, and character counts that rule out what that parse would
  let through: see ``validate_jvm_first``); every other row -- invalid, with extras, or
  merely undecided -- goes through the project's validator in Python, which builds the
  reasons. So the reasons and payloads are the validator's by construction;
* ``parse_only``: the typed ``from_json`` parse alone, no rule: the floor of any JVM path.

    .venv/bin/python bench/validation.py [--events 300000] [--bad 3000] [--rounds 3]

The batch is read from the embedded broker through Spark's Kafka source once and cached, so
both validators see identical rows and only validation is timed (a ``noop`` write). Rounds
alternate the three. It also counts the rows whose reasons, typed values, extras or kept payload
differ from the project validator's: what ``from_json`` cannot
tell apart. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from schemas import ASSET_ID_MAX_LEN, SENSOR_EVENT, SENSOR_NAMES, Kind
from sensorwatch import services
from sensorwatch.config import load_settings
from sensorwatch.connectors.kafka import spark_options
from sensorwatch.pipeline.ingestion import parse_events, rules_from_settings
from sensorwatch.pipeline.validator import EventRules
from sensorwatch.runtime.spark import get_spark
from sensorwatch.sources.produce import simulate_to_kafka

_SPARK_TYPE = {Kind.STRING: T.StringType(), Kind.BIGINT: T.LongType(), Kind.TIMESTAMP: T.LongType(),
               Kind.DOUBLE: T.DoubleType()}
_WORDS = {Kind.STRING: "string", Kind.BIGINT: "integer", Kind.TIMESTAMP: "integer epoch milliseconds",
          Kind.DOUBLE: "number"}
_TYPED = T.StructType([T.StructField(f.name, _SPARK_TYPE[f.kind]) for f in SENSOR_EVENT.fields])
_STRICT = {"allowNonNumericNumbers": "false", "allowNumericLeadingZeros": "false", "mode": "PERMISSIVE"}


def _json_type(raw: Column, is_string: Column) -> Column:
    """The JSON type name of a value given as raw text (from a map<string,string> parse)."""
    return (F.when(is_string, "string").when(raw.startswith("{"), "object").when(raw.startswith("["), "array")
            .when(raw.isin("true", "false"), "boolean")
            .when(raw.rlike(r"^-?[0-9]+$"), "integer").otherwise("number"))


def validate_with_from_json(raw: DataFrame, rules: EventRules) -> DataFrame:
    """The same checks as ``sensorwatch.pipeline.validator``, in Spark SQL expressions."""
    text = F.col("value").cast("string")
    # Two parses: typed (the values) and raw text per key (presence, extras, type names).
    df = raw.select(
        "*",
        F.from_json(text, _TYPED, _STRICT).alias("_t"),
        F.from_json(text, T.MapType(T.StringType(), T.StringType()), _STRICT).alias("_m"),
    )
    reasons: list[Column] = []
    kafka_ms = F.col("timestamp").cast("double") * 1000
    readings = F.lit(0)
    for f in SENSOR_EVENT.fields:
        present = F.col("_m")[f.name].isNotNull()
        value = F.col(f"_t.{f.name}")
        raw_text = F.col("_m")[f.name]
        is_string = text.rlike(f'"{f.name}"\\s*:\\s*"')  # the map parse drops the quotes
        if not f.nullable:
            reasons.append(F.when(~present, F.lit(f"missing_field:{f.name}")))
        wrong = present & (value.isNull() if f.kind != Kind.STRING else ~is_string)
        reasons.append(F.when(wrong, F.concat(F.lit(f"wrong_type:{f.name} (expected {_WORDS[f.kind]}, got "),
                                               _json_type(raw_text, is_string), F.lit(")"))))
        if f.kind == Kind.TIMESTAMP:
            reasons.append(F.when(value < rules.min_ms,
                                  F.lit(f"out_of_range:{f.name} (before {rules.min_event_time.isoformat()})")))
            reasons.append(F.when(value > kafka_ms + rules.max_future_skew_s * 1000, F.lit(
                f"out_of_range:{f.name} (more than {rules.max_future_skew_s}s after the Kafka timestamp)")))
        if f.name == "asset_id":
            reasons.append(F.when(~wrong & present & ((F.length(value) < 1) | (F.length(value) > ASSET_ID_MAX_LEN)),
                                  F.lit(f"invalid_value:asset_id (must be 1-{ASSET_ID_MAX_LEN} characters)")))
        if f.name in SENSOR_NAMES:
            readings = readings + F.when(value.isNotNull(), 1).otherwise(0)
    body_ok = F.col("_m").isNotNull()
    is_object = F.ltrim(text).startswith("{")
    checks = F.filter(F.array(*reasons, F.when(readings == 0, F.lit("no_sensor_readings"))), lambda r: r.isNotNull())
    all_reasons = (F.when(F.col("value").isNull() | (F.length("value") == 0), F.array(F.lit("empty_payload")))
                   .when(~is_object & F.col("_m").isNull() & F.ltrim(text).startswith("["),
                         F.array(F.lit("not_a_json_object")))
                   .when(~body_ok, F.array(F.lit("malformed_json")))
                   .otherwise(checks))
    known = F.array(*[F.lit(f.name) for f in SENSOR_EVENT.fields])
    extras = F.map_filter("_m", lambda k, _v: ~F.array_contains(known, k))
    invalid = F.size(all_reasons) > 0
    return df.select(
        *[F.col(f"_t.{f.name}").alias(f.name) for f in SENSOR_EVENT.fields],
        F.when(F.size(extras) > 0, extras).alias("extras"),
        F.when(invalid, F.col("key")).alias("key"), F.when(invalid, F.col("value")).alias("payload"),
        F.col("topic").alias("kafka_topic"), F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"), F.col("timestamp").alias("kafka_timestamp"),
        all_reasons.alias("_reasons"),
    )


def _count(text: Column, char: str) -> Column:
    return F.length(text) - F.length(F.translate(text, char, ""))


def validate_jvm_first(raw: DataFrame, rules: EventRules, python: DataFrame | None = None) -> DataFrame:
    """Rows the JVM proves valid, typed in the JVM; the rest through ``parse_events`` (Python).

    Proven valid: a typed parse (Spark's JSON reader, strict options) with every rule holding,
    and a flat text the typed parse cannot have misread: it starts with "{" and ends with "}"
    with no other brace (nothing after the object), no backslash (no escapes: no lone
    surrogate, no key spelled twice two ways), no "[" (no array value), as many colons as
    fields parsed non-null (no unknown key, no duplicate, no JSON null, no colon in a string)
    and as many quotes as the keys and the string values need (a number sent as a string,
    or a string sent as a number -- which Spark's reader would convert -- adds or lacks two).
    ``raw`` should be cached: both branches read it.
    """
    text = F.col("value").cast("string")
    df = raw.select(*raw.columns, F.from_json(text, _TYPED, _STRICT).alias("_t"))
    value = {f.name: F.col(f"_t.{f.name}") for f in SENSOR_EVENT.fields}
    present = [F.when(v.isNotNull(), 1).otherwise(0) for v in value.values()]
    strings = [F.when(value[f.name].isNotNull(), 1).otherwise(0) for f in SENSOR_EVENT.fields if f.kind == Kind.STRING]
    fields = sum(present[1:], present[0])
    trimmed = F.trim(text)
    kafka_ms = F.col("timestamp").cast("double") * 1000
    conditions = [
        F.octet_length("value").between(1, rules.max_payload_bytes), trimmed.startswith("{"), trimmed.endswith("}"),
        _count(text, "{") == 1, _count(text, "}") == 1, _count(text, "\\") == 0, _count(text, "[") == 0,
        _count(text, ":") == fields, _count(text, '"') == 2 * fields + 2 * sum(strings[1:], strings[0]),
        sum([F.when(value[n].isNotNull(), 1).otherwise(0) for n in SENSOR_NAMES], F.lit(0)) > 0,
        value["event_time"] >= rules.min_ms, value["event_time"] <= kafka_ms + rules.max_future_skew_s * 1000,
        F.length(value["asset_id"]).between(1, ASSET_ID_MAX_LEN), ~value["asset_id"].rlike("[\\x00-\\x1f\\x7f]"),
    ]
    conditions += [value[f.name].isNotNull() for f in SENSOR_EVENT.fields if not f.nullable]
    conditions += [value[f.name].isNull() | (~F.isnan(value[f.name]) & (F.abs(value[f.name]) < float("inf")))
                   for f in SENSOR_EVENT.fields if f.kind == Kind.DOUBLE]
    proven = conditions[0]
    for condition in conditions[1:]:
        proven = proven & condition
    df = df.withColumn("_proven", F.coalesce(proven, F.lit(False)))
    python = python if python is not None else parse_events(df.where(~F.col("_proven")), rules)
    target = {f.name: f.dataType for f in python.schema.fields}
    fast = df.where("_proven").select(
        *[(F.timestamp_millis(value[f.name]) if f.kind == Kind.TIMESTAMP else value[f.name])
          .cast(target[f.name]).alias(f.name) for f in SENSOR_EVENT.fields],
        F.lit(None).cast(target["extras"]).alias("extras"), F.lit(None).cast(target["key"]).alias("key"),
        F.lit(None).cast(target["payload"]).alias("payload"), F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"), F.array().cast(target["_reasons"]).alias("_reasons"))
    return fast.unionByName(python)


def timed(fn) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def differing(reference: DataFrame, other: DataFrame, name: str, columns: list[str] | None = None) -> int:
    """Rows whose reasons, typed fields or kept payload (or only ``columns``) differ from the
    reference validator's (``from_json`` keeps event_time as its epoch milliseconds)."""
    columns = columns or [f.name for f in SENSOR_EVENT.fields] + ["extras", "payload", "_reasons"]
    keyed = ["kafka_partition", "kafka_offset"]
    a = reference.select(*keyed, F.to_json(F.struct(*columns)).alias("a"))
    b = other.select(*keyed, F.to_json(F.struct(*columns)).alias("b"))
    differ = a.join(b, keyed, "full_outer").where(~F.col("a").eqNullSafe(F.col("b")))
    for row in differ.limit(5).collect():
        print(f"{name} differs at {row['kafka_partition']}/{row['kafka_offset']}: {row['a'][:300]} | {row['b'][:300]}")
    return differ.count()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--bad", type=int, default=3_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    run = f"bench-validation-{int(time.time())}"
    base = load_settings()
    settings = base.with_overrides(kafka={"topic": run})
    services.up(settings, ["kafka", "hdfs"])
    simulate_to_kafka(settings, assets=100, seconds=args.events // 100, anomalies_per_asset=0, bad_events=args.bad)
    spark = get_spark(settings, "bench-validation")
    raw = (spark.read.format("kafka").options(**spark_options(settings.kafka)).option("subscribe", run).load()
           .select("key", "value", "topic", "partition", "offset", "timestamp").repartition(4).cache())
    n = raw.count()
    rules = rules_from_settings(settings)
    variants = {"arrow": parse_events(raw, rules), "from_json": validate_with_from_json(raw, rules),
                "jvm_first": validate_jvm_first(raw, rules),
                "parse_only": raw.select(F.from_json(F.col("value").cast("string"), _TYPED, _STRICT).alias("_t"))}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for df in variants.values():  # warm-up (Python workers, code generation)
        df.write.format("noop").mode("overwrite").save()
    for _ in range(args.rounds):
        for name, df in variants.items():
            seconds[name].append(timed(lambda df=df: df.write.format("noop").mode("overwrite").save()))
            print(f"{name}: {seconds[name][-1]:.2f}s ({n / seconds[name][-1]:,.0f} rows/s)", flush=True)
    n_differ = {name: differing(variants["arrow"], variants[name], name) for name in ("from_json", "jvm_first")}
    reasons_differ = {name: differing(variants["arrow"], variants[name], name, ["_reasons"])
                      for name in ("from_json", "jvm_first")}
    decided = variants["jvm_first"].where(F.col("payload").isNull() & (F.size("_reasons") == 0)).count()
    median = {name: statistics.median(s) for name, s in seconds.items()}
    print(json.dumps({"rows": n, "bad_rows": args.bad, "rounds": args.rounds,
                      "seconds_median": {k: round(v, 2) for k, v in median.items()},
                      "rows_per_s": {k: round(n / v) for k, v in median.items()},
                      "from_json_over_arrow": round(median["arrow"] / median["from_json"], 2),
                      "jvm_first_over_arrow": round(median["arrow"] / median["jvm_first"], 2),
                      "jvm_first_decided": decided,
                      "rows_differing": n_differ, "rows_with_different_reasons": reasons_differ}))
    spark.stop()


if __name__ == "__main__":
    main()
