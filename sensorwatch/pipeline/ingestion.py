"""Kafka -> validated Parquet on HDFS, invalid events -> quarantine with every reason.

Extract: ``read_kafka_stream`` (Spark's own Kafka source, ``format("kafka")``).
Transform (pure, DataFrame in -> DataFrame out, unit-tested on small frames):
    ``parse_events`` -> ``landing_rows`` / ``quarantine_rows``.
Load: ``BatchPublisher``, exactly-once per micro-batch (see its docstring).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.errors import StreamingQueryException
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from schemas import JOB_RUNS, LANDING_EVENTS, QUARANTINE_EVENTS, SENSOR_NAMES
from schemas.time import now
from sensorwatch.config import Settings
from sensorwatch.connectors.hdfs import HadoopFs
from sensorwatch.connectors.kafka import spark_options
from sensorwatch.connectors.sql import SqlStore, SqlUnavailable
from sensorwatch.pipeline.runs import Details, RunRecord
from sensorwatch.pipeline.topic_guard import IngestFailed, check_topic_identity, ingest_checkpoint, path_safe
from sensorwatch.pipeline.validator import PARSED_SCHEMA, EventRules, validate_batches

JOB = "ingest"

log = logging.getLogger(__name__)

KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp")  # the validator's input
_PARSED_SPARK_SCHEMA = from_arrow_schema(PARSED_SCHEMA)


def rules_from_settings(settings: Settings) -> EventRules:
    return EventRules(settings.ingest.min_event_time, settings.ingest.max_future_skew_s,
                      settings.ingest.max_payload_bytes)


def parse_events(raw: DataFrame, rules: EventRules) -> DataFrame:
    """Kafka rows -> typed event columns, Kafka lineage, ``extras`` and ``_reasons``
    (empty when valid), by ``sensorwatch.pipeline.validator`` on Arrow batches (``mapInArrow``).

    Pure: the same input gives the same output (the future-skew check is against the
    message's own Kafka timestamp, so a replayed batch validates identically).
    """
    return raw.select(*KAFKA_COLUMNS).mapInArrow(functools.partial(validate_batches, rules=rules),
                                                  _PARSED_SPARK_SCHEMA)


def warm_up(spark: SparkSession, settings: Settings, rows: int = 20_000) -> float:
    """Before the first batch, with no data yet: ``rows`` synthetic events (made in the JVM, in
    the Kafka source's columns) through the batch's own transforms -- the validator in the
    Python workers, the landing rows, the partitioned Parquet writer -- to a scratch directory
    on HDFS, deleted after. It starts the Python workers and warms (JIT) the Arrow, Parquet and
    HDFS output paths, which the first batch pays for otherwise (bench/first_batch.py: 1.5 s
    and 2.7 s of its 7.1 extra seconds; the Kafka source's 2.8 s need the topic's data).
    Returns its seconds."""
    started, at = time.monotonic(), now()
    scratch = settings.storage.path("_staging", "warm-up", f"{int(time.time() * 1000)}")
    try:
        landing_rows(parse_events(synthetic_events(spark, rows, at), rules_from_settings(settings)), at) \
            .write.partitionBy("date", "hour").parquet(scratch)
    finally:
        HadoopFs(spark, settings.storage.root).delete(scratch, recursive=True)
    return round(time.monotonic() - started, 2)


def synthetic_events(spark: SparkSession, rows: int, at: datetime) -> DataFrame:
    """``rows`` valid sensor events at ``at``, as Spark's Kafka source gives messages (``warm_up``'s data)."""
    event = F.struct(F.concat(F.lit("warm-up-"), (F.col("id") % 100).cast("string")).alias("asset_id"),
                     F.lit(int(at.timestamp() * 1000)).alias("event_time"),
                     *[(F.rand(seed=i) * 100).alias(name) for i, name in enumerate(SENSOR_NAMES)])
    return spark.range(rows).select(
        F.lit(None).cast("binary").alias("key"), F.to_json(event).cast("binary").alias("value"),
        F.lit("warm-up").alias("topic"), F.lit(0).alias("partition"), F.col("id").alias("offset"),
        F.lit(at).cast("timestamp").alias("timestamp"))


def landing_rows(parsed: DataFrame, ingest_time: datetime) -> DataFrame:
    """Valid events in the landing table's columns, partitioned by event date/hour (UTC)."""
    valid = parsed.where(F.size("_reasons") == 0)
    return valid.select(*[_column(name, ingest_time) for name in LANDING_EVENTS.column_names])


def quarantine_rows(parsed: DataFrame, ingest_time: datetime) -> DataFrame:
    """Invalid events with the raw payload and every reason, partitioned by ingest date/hour."""
    bad = parsed.where(F.size("_reasons") > 0).withColumn("reason", F.array_join("_reasons", "; "))
    return bad.select(*[_column(name, ingest_time, partition_time=F.lit(ingest_time))
                        for name in QUARANTINE_EVENTS.column_names])


def _column(name: str, ingest_time: datetime, partition_time: Column | None = None) -> Column:
    when = partition_time if partition_time is not None else F.col("event_time")
    if name == "ingest_time":
        return F.lit(ingest_time).cast("timestamp").alias(name)
    if name == "date":
        return F.date_format(when, "yyyy-MM-dd").alias(name)
    if name == "hour":
        return F.hour(when).cast("int").alias(name)
    return F.col(name)


def read_kafka_stream(spark: SparkSession, settings: Settings) -> DataFrame:
    """Extract: the Kafka topic as a stream, through Spark's own Kafka source."""
    k, ing = settings.kafka, settings.ingest
    return (spark.readStream.format("kafka")
            .options(**spark_options(k))
            .option("subscribe", k.topic)
            .option("startingOffsets", ing.starting_offsets)
            .option("maxOffsetsPerTrigger", ing.max_offsets_per_trigger)
            .option("failOnDataLoss", str(ing.fail_on_data_loss).lower())
            .load())


def _root_cause(text: str) -> str:
    """The most telling line of a streaming failure (Python errors arrive inside JVM ones)."""
    for marker in ("KafkaUnavailable:", "Some data may have been lost", "OffsetOutOfRange", "SafeModeException:"):
        for line in text.splitlines():
            if marker in line:
                return line.strip().lstrip(": ")
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


@dataclass
class IngestBatch(Details):
    """One committed micro-batch (its ``job_runs`` row's details, and the log's line)."""

    batch_id: int
    landed: int
    quarantined: int
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds per step of the batch

    def to_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "landed": self.landed, "quarantined": self.quarantined,
                "seconds": self.seconds, **{f"s_{name}": t for name, t in self.stages.items()}}


@dataclass
class BatchPublisher:
    """Load: write one micro-batch to the landing zone and quarantine, exactly once.

    Spark replays a failed batch with the same id and the same offsets. Each batch is
    written to ``_staging/batch=N`` and its files are then renamed into the partition
    directories as ``bNNNNNNNNNN-<topic>-<part>.parquet`` (``<topic>``: the start of the
    Kafka topic's id, so a recreated topic's batch numbers never meet the old ones). Before
    writing, any file of batch N left by an earlier, interrupted attempt is deleted. So a
    replay replaces, never adds: every Kafka offset lands exactly once, in the landing zone
    or in quarantine.
    Unlike Spark's file sink (whose ``_spark_metadata`` log Hive and Impala ignore),
    no stray files of failed attempts stay visible to other engines.
    """

    fs: HadoopFs  # the session's own Hadoop filesystem: staging, renames, deletes
    settings: Settings
    topic_id: str = "0"
    batches: list[IngestBatch] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._targets = {"landing": self.settings.storage.landing, "quarantine": self.settings.storage.quarantine}
        self._tag = path_safe(self.topic_id)[:8]
        self._registered: dict[str, set[tuple[str, int]]] = {}  # per dataset: partitions already registered

    def _prefix(self, batch_id: int) -> str:
        return f"b{batch_id:010d}-{self._tag}-"

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started, started_at = time.monotonic(), now()
        log.info("ingest batch %d started", batch_id)
        ingest_time = started_at
        staging = self.settings.storage.path("_staging", "ingest", f"batch={batch_id}")
        self._delete_batch_files(batch_id, staging)
        clock = {"start": time.monotonic()}
        # One pass reads, validates, caches and writes the landing rows, counting both kinds on
        # the way (an observation, not extra count jobs); quarantine is written from the cache.
        batch = batch.persist()
        observation = Observation(f"ingest-batch-{batch_id}")
        is_valid = F.size("_reasons") == 0
        observed = batch.observe(observation, F.count_if(is_valid).alias("landing"),
                                 F.count_if(~is_valid).alias("quarantine"))
        try:
            landing_rows(observed, ingest_time).write.partitionBy("date", "hour").parquet(f"{staging}/landing")
            counts = {name: int(n or 0) for name, n in observation.get.items()}
            clock["read_validate_land"] = time.monotonic()
            if counts["quarantine"]:  # an empty write is still a Spark job
                quarantine_rows(batch, ingest_time).write.partitionBy("date", "hour").parquet(f"{staging}/quarantine")
            clock["quarantine"] = time.monotonic()
            published = {name: self._publish(batch_id, f"{staging}/{name}", target)
                         for name, target in self._targets.items()}
        finally:
            batch.unpersist()
        self.fs.delete(staging, recursive=True)
        clock["publish"] = time.monotonic()
        if self.settings.history is not None and self.settings.history.register_partitions:
            self._register(batch_id, published)
            clock["register"] = time.monotonic()
        marks = list(clock.items())
        done = IngestBatch(batch_id, counts["landing"], counts["quarantine"], round(time.monotonic() - started, 2),
                           {name: round(t - marks[i][1], 2) for i, (name, t) in enumerate(marks[1:])})
        self.batches.append(done)
        log.info("ingest batch %d committed: %s", batch_id, json.dumps(done.to_json()))
        self._record(started_at, done)

    def _record(self, started_at: datetime, done: IngestBatch) -> None:
        """One ``job_runs`` row per committed batch, like every other job's run. Its id is
        the batch's (topic, number): a replayed batch rewrites its row, never adds one. The
        data is committed already: an unreachable store is a warning, not a failed batch."""
        record = RunRecord(JOB, done, run_id=f"ingest-{self._tag}-b{done.batch_id:010d}", started_at=started_at,
                           finished_at=started_at + timedelta(seconds=done.seconds), status="succeeded",
                           rows_in=done.landed + done.quarantined, rows_out=done.landed,
                           rows_rejected=done.quarantined, duration_s=done.seconds)
        try:
            SqlStore(self.settings).upsert(JOB_RUNS, [record.row()])
        except SqlUnavailable as exc:
            log.warning("ingest batch %d: its job_runs row was not written: %s", done.batch_id, exc)

    def _publish(self, batch_id: int, staged: str, target: str) -> set[tuple[str, int]]:
        """Rename the staged Parquet files of one batch into the partition dirs of ``target``;
        returns the (date, hour) partitions they went to."""
        partitions = set()
        for source in self.fs.glob(f"{staged}/date=*/hour=*/*.parquet"):
            date_dir, hour_dir, name = source.rsplit("/", 3)[1:]
            target_dir = f"{target}/{date_dir}/{hour_dir}"
            self.fs.mkdirs(target_dir)
            if not self.fs.rename(source, f"{target_dir}/{self._prefix(batch_id)}{name}"):
                raise OSError(f"could not move {source} into {target_dir}")
            partitions.add((date_dir.split("=", 1)[1], int(hour_dir.split("=", 1)[1])))
        return partitions

    def _register(self, batch_id: int, published: dict[str, set[tuple[str, int]]]) -> None:
        """Make the batch's new partitions visible to the historical SQL endpoint. The data is
        committed already: an unreachable endpoint is a warning, and ``sensorwatch history
        sync`` (MSCK REPAIR / RECOVER PARTITIONS) catches up later."""
        from sensorwatch.connectors import history

        tables = {"landing": "landing_events", "quarantine": "quarantine_events"}
        for name, partitions in published.items():
            new = partitions - self._registered.setdefault(name, set())
            if not new:
                continue
            try:
                history.add_partitions(self.settings, tables[name], sorted(new))
                self._registered[name] |= new
            except history.HistoryUnavailable as exc:
                log.warning("ingest batch %d: partitions not registered with the historical SQL endpoint "
                            "(run `sensorwatch history sync` later): %s", batch_id, exc)

    def _delete_batch_files(self, batch_id: int, staging: str) -> None:
        self.fs.delete(staging, recursive=True)
        for target in self._targets.values():
            for path in self.fs.glob(f"{target}/date=*/hour=*/{self._prefix(batch_id)}*"):
                log.info("ingest batch %d: removing %s of an interrupted attempt", batch_id, path.rsplit("/", 1)[1])
                self.fs.delete(path)


@dataclass
class IngestDetails(Details):
    """An ingest run's own figures: its committed batches (each also has its ``job_runs``
    row) and Spark's view of the stream."""

    batches: list[IngestBatch] = field(default_factory=list, repr=False)
    event_time: dict[str, str] | None = None  # Spark's min/avg/max/watermark of the last batch with events
    duration_ms: dict[str, int] = field(default_factory=dict)  # Spark's time per stage, summed over batches

    def to_json(self) -> dict[str, Any]:
        return {"batches": len(self.batches), "event_time": self.event_time, "duration_ms": self.duration_ms}


def run_ingest(spark: SparkSession, settings: Settings, *,
               timeout_s: float | None = None) -> RunRecord[IngestDetails]:
    """Run the ingest stream: availableNow returns when caught up; processingTime runs until
    ``timeout_s`` (or forever). Returns the run's record, its batches summed (each batch
    has its own ``job_runs`` row; the run as a whole has none)."""
    rules = rules_from_settings(settings)
    try:
        SqlStore(settings).create_tables((JOB_RUNS,))
    except SqlUnavailable as exc:
        log.warning("ingest: job_runs unreachable, batches will not be recorded there: %s", exc)
    fs = HadoopFs(spark, settings.storage.root)
    publisher = BatchPublisher(fs, settings, topic_id=check_topic_identity(fs, settings))
    if settings.ingest.trigger != "availableNow":  # a long-running stream: its first batch as fast as the next
        log.info("ingest: warmed up ahead of the data in %.1f s", warm_up(spark, settings))
    parsed = parse_events(read_kafka_stream(spark, settings), rules) \
        .withWatermark("event_time", settings.ingest.watermark_delay)
    writer = (parsed.writeStream.queryName("sensorwatch_ingest")
              .option("checkpointLocation", fs.qualified(ingest_checkpoint(settings)))
              .foreachBatch(publisher))
    if settings.ingest.trigger == "availableNow":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.ingest.processing_time)
    record = RunRecord(JOB, IngestDetails(batches=publisher.batches))
    started = time.monotonic()
    try:
        query = writer.start()
    except Py4JJavaError as exc:  # e.g. the checkpoint cannot be created: HDFS in safe mode (bench/faults.py)
        raise IngestFailed(f"the ingest stream could not start: {_root_cause(str(exc))}") from exc
    try:
        query.awaitTermination(timeout_s)  # type: ignore[arg-type]  # seconds; PySpark takes a float
    except StreamingQueryException as exc:
        raise IngestFailed(_root_cause(str(exc))) from exc
    finally:
        if query.isActive:
            query.stop()
    durations: dict[str, int] = {}
    for report in query.recentProgress:
        for stage, ms in (report.get("durationMs") or {}).items():
            durations[stage] = durations.get(stage, 0) + ms
    batches = publisher.batches
    record.details.duration_ms = durations
    record.details.event_time = next(
        (r["eventTime"] for r in reversed(query.recentProgress) if r.get("eventTime", {}).get("max")), None)
    record.rows_out, record.rows_rejected = sum(b.landed for b in batches), sum(b.quarantined for b in batches)
    record.rows_in = record.rows_out + record.rows_rejected
    record.status = "succeeded" if batches else "noop"
    record.finished_at, record.duration_s = now(), round(time.monotonic() - started, 2)
    return record
