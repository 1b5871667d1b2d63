"""Batch features: landing events on HDFS -> ``sensor_features`` in the SQL store.

Extract: ``read_landing`` and ``events_for`` (partition-pruned reads of what a plan needs).
Transform: ``features.transforms.compute_features`` (pure), ``keep_planned`` (the rows the
plan recomputes).
Load: ``connectors.sql.bulk_upsert`` (batched ``INSERT ... ON CONFLICT DO UPDATE`` from the Spark partitions).

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
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.transforms import compute_features, interval_index
from schemas import JOB_RUNS, SENSOR_FEATURES
from schemas.features import FeatureSpec
from schemas.time import TimeRange, from_micros, micros
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore, bulk_upsert
from sensorwatch.connectors.sql import statements as q
from sensorwatch.operations.retention import drop_old_partitions
from sensorwatch.pipeline.extract import Span, dirty_spans, events_for, keep_planned, read_landing, unknown_fields
from sensorwatch.pipeline.runs import Details, RunRecord, last_watermark, recorded_run

JOB = "features"


@dataclass
class Plan:
    """What one run recomputes, and the watermark it moves to (Extract's answer)."""

    mode: str  # backfill | incremental
    spans: list[Span]
    new: DataFrame | None = None  # incremental: events at or after the previous watermark (some columns)
    previous_watermark: datetime | None = None
    watermark: datetime | None = None  # the next run's watermark (incremental)
    rows_at_watermark: int = 0

    def unpersist(self) -> None:
        if self.new is not None:
            self.new.unpersist()


@dataclass(frozen=True)
class Recomputed:
    """What a run wrote (Load's answer)."""

    rows_in: int = 0
    rows_out: int = 0
    late_rows: int | None = None
    span: TimeRange | None = None
    unknown_fields: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class FeaturesDetails(Details):
    """A features run's own figures (``job_runs.details``)."""

    mode: str = ""  # incremental | backfill
    rows_at_watermark: int = 0  # incremental: the events of the newest ingest batch, counted at the watermark
    unknown_fields: dict[str, int] = field(default_factory=dict)  # fields the schema does not know -> events
    seconds: dict[str, float] = field(default_factory=dict)  # per stage
    retention_dropped: dict[str, list[str]] = field(default_factory=dict)  # table -> day partitions dropped


def run_features(spark: SparkSession, settings: Settings,
                 span: TimeRange | None = None) -> RunRecord[FeaturesDetails]:
    """One run of the features job: a backfill of ``span`` when given, else incremental.
    Returns the run's summary (also written to ``job_runs``)."""
    spec = settings.features.spec()
    store = SqlStore(settings)
    store.create_tables((JOB_RUNS, SENSOR_FEATURES))
    with recorded_run(store, JOB, FeaturesDetails()) as record:
        started = time.monotonic()
        landing = read_landing(spark, settings)
        plan = plan_backfill(span, spec) if span is not None else plan_incremental(store, landing, spec)
        record.details.mode = plan.mode
        try:
            done = recompute(store, landing, plan, spec, started=started)
        finally:
            plan.unpersist()
        if plan.mode == "incremental":
            record.watermark, record.details.rows_at_watermark = plan.watermark, plan.rows_at_watermark
        record.rows_in, record.rows_out, record.late_rows = done.rows_in, done.rows_out, done.late_rows
        record.covering(done.span)
        if done.rows_in:
            record.details.unknown_fields, record.details.seconds = done.unknown_fields, done.seconds
        else:
            record.status = "noop"
        dropped = drop_old_partitions(store, settings.sql.retention_days)
        if dropped:
            record.details.retention_dropped = {name: [str(d) for d in days] for name, days in dropped.items()}
    return record.summary()


def plan_backfill(span: TimeRange, spec: FeatureSpec) -> Plan:
    grid = span.on_grid(spec.interval_s)
    return Plan("backfill", [Span(None, grid.start, grid.end)])


def recompute(store: SqlStore, landing: DataFrame | None, plan: Plan, spec: FeatureSpec,
              started: float) -> Recomputed:
    """Read the plan's events, compute its rows, upsert them."""
    if landing is None or not plan.spans:
        return Recomputed()
    events = events_for(landing, plan.spans, spec).cache()
    try:
        rows_in = events.count()
        if rows_in == 0:
            return Recomputed()
        unknown = unknown_fields(plan.new if plan.new is not None else events)
        late = _late_events(store, plan.new, spec, plan.previous_watermark) if plan.new is not None else None
        rows = keep_planned(compute_features(events, spec), plan.spans)
        seconds = {"plan_and_read": round(time.monotonic() - started, 2)}
        rows_out = bulk_upsert(store, rows, SENSOR_FEATURES, seconds=seconds)
        return Recomputed(rows_in, rows_out, late, TimeRange(min(s.start for s in plan.spans),
                                                             max(s.end for s in plan.spans)), unknown, seconds)
    finally:
        events.unpersist()


def plan_incremental(store: SqlStore, landing: DataFrame | None, spec: FeatureSpec) -> Plan:
    """Spans dirtied since the last successful run, and the watermark to move to."""
    previous = last_watermark(store, JOB)
    watermark, details = previous if previous else (None, {})
    at_watermark = details.get("rows_at_watermark", 0)
    plan = Plan("incremental", [], None, watermark, watermark, at_watermark)  # unchanged unless something landed
    if landing is None:
        return plan
    # Only the columns planning and counting need are cached (not the readings).
    plan.new = (landing.where(F.col("ingest_time") >= F.lit(watermark)) if watermark else landing) \
        .select("asset_id", "event_time", "ingest_time", "extras").cache()
    # Timestamps travel as epoch microseconds: collect() would use the local time zone.
    per_batch = {r["t"]: r["n"] for r in plan.new.groupBy(F.unix_micros("ingest_time").alias("t"))
                 .agg(F.count(F.lit(1)).alias("n")).collect()}
    if not per_batch:
        return plan
    newest = max(per_batch)
    if watermark is not None and newest == micros(watermark) and per_batch[newest] == at_watermark:
        return plan  # nothing landed since the last run
    plan.watermark, plan.rows_at_watermark = from_micros(newest), per_batch[newest]
    blocks = plan.new.select("asset_id", F.unix_micros(F.date_trunc("hour", "event_time")).alias("h")) \
        .distinct().collect()
    plan.spans = dirty_spans([(r["asset_id"], from_micros(r["h"])) for r in blocks], spec)
    return plan


def _late_events(store: SqlStore, new: DataFrame, spec: FeatureSpec, previous_watermark: datetime | None) -> int:
    """Events new since the last run whose interval was already in ``sensor_features``."""
    fresh = new.where(F.col("ingest_time") > F.lit(previous_watermark)) if previous_watermark else new
    latest = store.query(q.newest_per_asset(store.target, SENSOR_FEATURES, "interval_start"))
    if not latest:
        return 0
    known = new.sparkSession.createDataFrame(latest, "asset_id string, _latest timestamp")

    def ix(col: str):
        return interval_index(F.col(col), spec.interval_s)

    return fresh.join(F.broadcast(known), "asset_id").where(ix("event_time") <= ix("_latest")).count()
