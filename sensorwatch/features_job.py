"""Batch features: landing events on HDFS -> ``sensor_features`` in the SQL store.

Extract: ``read_landing`` and ``events_for`` (partition-pruned reads of what a plan needs).
Transform: ``features.transforms.compute_features`` (pure), ``keep_planned`` (the rows the
plan recomputes).
Load: ``SqlStore.bulk_upsert`` (staging table + ``INSERT ... ON CONFLICT DO UPDATE``).

What a run recomputes (``Span``: an asset, or all assets, and an interval range):

* ``--from/--to`` (backfill): every interval in the range, for every asset.
* incremental (default): the events that landed since the last successful run (by their
  ``ingest_time``, the watermark kept in ``job_runs``) mark their (asset, hour) blocks
  dirty, late events included; each block is recomputed together with the K-1 intervals
  after it, whose rolling windows reach back into it. The events of the last batch seen
  are read again each time (``ingest_time >= watermark``): a batch that ingest was still
  publishing is then completed, and nothing is counted twice (upserts).

A row depends only on the events of its last K intervals, so recomputing a range reads
``lookback_s`` more before it, and backfill and incremental give the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.definitions import FeatureSpec
from features.transforms import compute_features, interval_index
from schemas import JOB_RUNS, LANDING_EVENTS, SENSOR_FEATURES
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.runs import last_watermark, recorded_run

JOB = "features"
HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Span:
    """Recompute the rows of ``asset_id`` (None: every asset) with interval_start in [start, end)."""

    asset_id: str | None
    start: datetime
    end: datetime


def dirty_spans(blocks: list[tuple[str, datetime]], spec: FeatureSpec) -> list[Span]:
    """(asset, hour) blocks that received events -> merged spans of rows to recompute: each
    block plus the K-1 intervals after it; spans of one asset whose inputs would overlap
    are merged, so every event is read for at most one span."""
    lookback = timedelta(seconds=spec.lookback_s)
    spans: list[Span] = []
    for asset, hour in sorted(set(blocks)):
        start, end = hour, hour + HOUR + lookback
        last = spans[-1] if spans else None
        if last and last.asset_id == asset and start - lookback <= last.end:
            spans[-1] = Span(asset, last.start, max(last.end, end))
        else:
            spans.append(Span(asset, start, end))
    return spans


def landing_hours(spans: list[Span], spec: FeatureSpec) -> list[str]:
    """Landing partitions ('yyyy-MM-ddTHH') holding the input of ``spans`` (lookback included)."""
    hours: set[str] = set()
    for span in spans:
        hour = (span.start - timedelta(seconds=spec.lookback_s)).replace(minute=0, second=0, microsecond=0)
        while hour < span.end:
            hours.add(hour.strftime("%Y-%m-%dT%H"))
            hour += HOUR
    return sorted(hours)


def read_landing(spark: SparkSession, settings: Settings) -> DataFrame | None:
    """The landing zone with its declared schema (None before anything landed). Columns a
    file lacks read as null, columns the schema does not declare are not read: schema drift
    in the files never breaks the job, and unknown wire fields stay in ``extras``."""
    try:
        return spark.read.schema(LANDING_EVENTS.spark_schema()).parquet(settings.storage.landing)
    except Exception as exc:  # noqa: BLE001 - Spark raises AnalysisException for a missing path
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
            return None
        raise


def events_for(landing: DataFrame, spans: list[Span], spec: FeatureSpec) -> DataFrame:
    """The events needed to recompute ``spans``: partition-pruned, then each span's range
    widened by the lookback."""
    hour_key = F.concat_ws("T", "date", F.lpad(F.col("hour").cast("string"), 2, "0"))
    events = landing.where(hour_key.isin(landing_hours(spans, spec)))
    return _within(events, "event_time", spans, widen=timedelta(seconds=spec.lookback_s))


def keep_planned(rows: DataFrame, spans: list[Span]) -> DataFrame:
    """Only the rows the spans recompute (the lookback rows were input, not output)."""
    return _within(rows, "interval_start", spans)


def _within(df: DataFrame, time_col: str, spans: list[Span], widen: timedelta = timedelta(0)) -> DataFrame:
    """Rows whose ``time_col`` is in a span (start moved ``widen`` earlier) of their asset:
    a filter when spans cover every asset, else a broadcast join on the asset."""
    t = F.col(time_col)
    if all(s.asset_id is None for s in spans):
        cond = F.lit(False)
        for s in spans:
            cond = cond | ((t >= F.lit(s.start - widen)) & (t < F.lit(s.end)))
        return df.where(cond)
    ranges = df.sparkSession.createDataFrame([(s.asset_id, s.start - widen, s.end) for s in spans],
                                             "asset_id string, _start timestamp, _end timestamp")
    return (df.join(F.broadcast(ranges), "asset_id")
            .where((t >= F.col("_start")) & (t < F.col("_end"))).drop("_start", "_end"))


def unknown_fields(events: DataFrame) -> dict[str, int]:
    """Schema drift on the wire: how many events carried each undeclared field."""
    rows = (events.where(F.col("extras").isNotNull())
            .select(F.explode(F.map_keys("extras")).alias("field")).groupBy("field").count().collect())
    return {r["field"]: r["count"] for r in sorted(rows, key=lambda r: r["field"])}


class BadRange(ValueError):
    """A backfill range that cannot be run (a usage error)."""


@dataclass
class Plan:
    spans: list[Span]
    new: DataFrame | None = None  # incremental: events at or after the previous watermark (some columns)
    previous_watermark: datetime | None = None


def check_range(start: datetime | None, end: datetime | None) -> None:
    if (start is None) != (end is None):
        raise BadRange("give both --from and --to for a backfill, or neither for an incremental run")
    if start is not None and end is not None and start >= end:
        raise BadRange(f"empty range: --from {start.isoformat()} is not before --to {end.isoformat()}")


def run_features(spark: SparkSession, settings: Settings, start: datetime | None = None,
                 end: datetime | None = None) -> dict:
    """One run of the features job: backfill [start, end) when given, else incremental.
    Returns the run record as a dict (also written to ``job_runs``)."""
    check_range(start, end)
    spec = settings.features.spec()
    store = SqlStore(settings)
    store.create_tables((JOB_RUNS, SENSOR_FEATURES))
    with recorded_run(store, JOB) as record:
        started = time.monotonic()
        landing = read_landing(spark, settings)
        if start is not None and end is not None:
            record.details["mode"] = "backfill"
            plan = Plan([Span(None, interval_floor(start, spec), interval_ceil(end, spec))])
        else:
            record.details["mode"] = "incremental"
            plan = _plan_incremental(store, landing, record, spec)
        try:
            _recompute(store, landing, plan, record, spec, started)
        finally:
            if plan.new is not None:
                plan.new.unpersist()
    return record.summary()


def _recompute(store: SqlStore, landing: DataFrame | None, plan: Plan, record, spec: FeatureSpec,
               started: float) -> None:
    record.rows_in = record.rows_out = 0
    if landing is None or not plan.spans:
        record.status = "noop"
        return
    events = events_for(landing, plan.spans, spec).cache()
    try:
        record.rows_in = events.count()
        if record.rows_in == 0:
            record.status = "noop"
            return
        record.details["unknown_fields"] = unknown_fields(plan.new if plan.new is not None else events)
        if plan.new is not None:
            record.late_rows = _late_events(store, plan.new, spec, plan.previous_watermark)
        rows = keep_planned(compute_features(events, spec), plan.spans)
        record.details["seconds"] = seconds = {"plan_and_read": round(time.monotonic() - started, 2)}
        record.rows_out = store.bulk_upsert(rows, SENSOR_FEATURES, tag=record.run_id[:12], seconds=seconds)
        record.range_start = min(s.start for s in plan.spans)
        record.range_end = max(s.end for s in plan.spans)
    finally:
        events.unpersist()


def _plan_incremental(store: SqlStore, landing: DataFrame | None, record, spec: FeatureSpec) -> Plan:
    """Spans dirtied since the last successful run; moves the record's watermark on."""
    previous = last_watermark(store, JOB)
    watermark, details = previous if previous else (None, {})
    record.watermark = watermark  # unchanged unless something new landed
    record.details["rows_at_watermark"] = details.get("rows_at_watermark", 0)
    if landing is None:
        return Plan([])
    # Only the columns planning and counting need are cached (not the readings).
    new = (landing.where(F.col("ingest_time") >= F.lit(watermark)) if watermark else landing) \
        .select("asset_id", "event_time", "ingest_time", "extras").cache()
    plan = Plan([], new, watermark)
    # Timestamps travel as epoch microseconds: collect() would use the local time zone.
    per_batch = {r["t"]: r["n"] for r in new.groupBy(F.unix_micros("ingest_time").alias("t"))
                 .agg(F.count(F.lit(1)).alias("n")).collect()}
    if not per_batch:
        return plan
    newest = max(per_batch)
    if watermark is not None and newest == _micros(watermark) and per_batch[newest] == record.details["rows_at_watermark"]:
        return plan  # nothing landed since the last run
    record.watermark = _from_micros(newest)
    record.details["rows_at_watermark"] = per_batch[newest]
    blocks = new.select("asset_id", F.unix_micros(F.date_trunc("hour", "event_time")).alias("h")).distinct().collect()
    plan.spans = dirty_spans([(r["asset_id"], _from_micros(r["h"])) for r in blocks], spec)
    return plan


def _late_events(store: SqlStore, new: DataFrame, spec: FeatureSpec, previous_watermark: datetime | None) -> int:
    """Events new since the last run whose interval was already in ``sensor_features``."""
    fresh = new.where(F.col("ingest_time") > F.lit(previous_watermark)) if previous_watermark else new
    latest = store.max_per(SENSOR_FEATURES, "asset_id", "interval_start")
    if not latest:
        return 0
    known = new.sparkSession.createDataFrame(latest, "asset_id string, _latest timestamp")
    def ix(col: str):
        return interval_index(F.col(col), spec.interval_s)

    return fresh.join(F.broadcast(known), "asset_id").where(ix("event_time") <= ix("_latest")).count()


def _micros(t: datetime) -> int:
    return int((t - _EPOCH) / timedelta(microseconds=1))


def _from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def interval_floor(t: datetime, spec: FeatureSpec) -> datetime:
    """The start of the feature interval holding ``t`` (UTC; naive means UTC)."""
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % spec.interval_s, timezone.utc)


def interval_ceil(t: datetime, spec: FeatureSpec) -> datetime:
    """``t`` itself when it starts an interval, else the start of the next one."""
    floor = interval_floor(t, spec)
    return floor if floor == t else floor + timedelta(seconds=spec.interval_s)
