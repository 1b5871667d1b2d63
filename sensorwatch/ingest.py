"""Kafka -> validated Parquet on HDFS, invalid events -> quarantine with every reason.

Extract: ``read_kafka_stream`` (Spark's own Kafka source, ``format("kafka")``).
Transform (pure, DataFrame in -> DataFrame out, unit-tested on small frames):
    ``parse_events`` -> ``landing_rows`` / ``quarantine_rows``.
Load: ``BatchPublisher``, exactly-once per micro-batch (see its docstring).
"""

from __future__ import annotations

import dataclasses
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

from schemas import JOB_RUNS, LANDING_EVENTS, QUARANTINE_EVENTS
from schemas.errors import OperationFailed
from schemas.time import now
from sensorwatch.config import Settings
from sensorwatch.connectors.kafka import spark_options, topic_id
from sensorwatch.connectors.sql import SqlStore, SqlUnavailable
from sensorwatch.runs import RunRecord
from sensorwatch.validate import ARROW_COLUMNS, PARSED_SCHEMA, EventRules, validate_batches

JOB = "ingest"

log = logging.getLogger(__name__)

_KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp")
KAFKA_COLUMNS = from_arrow_schema(ARROW_COLUMNS)  # what format("kafka") gives
_PARSED_SPARK_SCHEMA = from_arrow_schema(PARSED_SCHEMA)


def rules_from_settings(settings: Settings) -> EventRules:
    return EventRules(settings.ingest.min_event_time, settings.ingest.max_future_skew_s,
                      settings.ingest.max_payload_bytes)


def parse_events(raw: DataFrame, rules: EventRules) -> DataFrame:
    """Kafka rows -> typed event columns, Kafka lineage, ``extras`` and ``_reasons``
    (empty when valid), by ``sensorwatch.validate`` on Arrow batches (``mapInArrow``).

    Pure: the same input gives the same output (the future-skew check is against the
    message's own Kafka timestamp, so a replayed batch validates identically).
    """
    return raw.select(*_KAFKA_COLUMNS).mapInArrow(functools.partial(validate_batches, rules=rules),
                                                  _PARSED_SPARK_SCHEMA)


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


def ingest_checkpoint(settings: Settings) -> str:
    return settings.storage.path("checkpoints", "ingest")


def qualified(spark: SparkSession, path: str) -> str:
    """``path`` with the default filesystem's scheme and authority filled in: a cluster
    profile's ``hdfs:///data/...`` becomes ``hdfs://namenode:port/data/...``. Spark's
    streaming checkpoint goes through Hadoop's FileContext, which refuses an hdfs URI
    without an authority (measured on YARN: "Uri without authority: hdfs:/data/...")."""
    jvm: Any = spark._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return str(p.getFileSystem(spark._jsc.hadoopConfiguration()).makeQualified(p).toString())


class IngestFailed(OperationFailed):
    """The ingest stream stopped with an error (the root cause is in the message)."""


def _root_cause(text: str) -> str:
    """The most telling line of a streaming failure (Python errors arrive inside JVM ones)."""
    for marker in ("KafkaUnavailable:", "Some data may have been lost", "OffsetOutOfRange", "SafeModeException:"):
        for line in text.splitlines():
            if marker in line:
                return line.strip().lstrip(": ")
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def path_safe(topic_id: str) -> str:
    """A topic id (standard base64: '/' and '+' among its characters) as one path segment."""
    return topic_id.replace("/", "_").replace("+", "-")


def _check_topic_identity(spark: SparkSession, settings: Settings) -> str:
    """Check the topic before a run; return its id (the landed files carry it).

    Spark's Kafka source checkpoints offsets only. A topic deleted and created again with at
    least as many messages as were read looks like the same topic to it, and the new topic's
    first offsets would be skipped without a word. So the topic's id (KIP-516) is kept next to
    the checkpoint: a different id is a recreated topic. ``failOnDataLoss`` true: a clear error;
    false: the old checkpoint is set aside and the new topic is read from its beginning.
    A missing topic is an error (ingest never creates one).
    """
    k = settings.kafka
    current = topic_id(k, k.topic)
    if current is None:
        raise IngestFailed(f"topic '{k.topic}' does not exist on {k.bootstrap_servers} (ingest never creates it)")
    jvm: Any = spark._jvm
    marker = jvm.org.apache.hadoop.fs.Path(ingest_checkpoint(settings) + ".topic-id")
    fs = marker.getFileSystem(spark._jsc.hadoopConfiguration())
    recorded = None
    if fs.exists(marker):
        stream = fs.open(marker)
        try:
            recorded = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8").strip()
        finally:
            stream.close()
    if recorded and recorded != current:
        checkpoint = ingest_checkpoint(settings)
        if settings.ingest.fail_on_data_loss:
            raise IngestFailed(
                f"topic '{k.topic}' was recreated (id {recorded} -> {current}) since the last ingest: the offsets "
                f"in the checkpoint are not this topic's. Check what was lost, then delete the ingest checkpoint "
                f"({checkpoint}) to read the new topic from its beginning (or set ingest.fail_on_data_loss false).")
        aside = f"{checkpoint}.recreated-{path_safe(recorded)}"
        log.warning("topic '%s' was recreated (id %s -> %s): failOnDataLoss=false, so the checkpoint goes to %s "
                    "and the new topic is read from its beginning", k.topic, recorded, current, aside)
        if not fs.rename(jvm.org.apache.hadoop.fs.Path(checkpoint), jvm.org.apache.hadoop.fs.Path(aside)):
            raise IngestFailed(f"could not move the ingest checkpoint {checkpoint} aside to {aside}")
    if recorded != current:
        out = fs.create(marker, True)
        try:
            out.write(bytearray(current.encode()))
        finally:
            out.close()
    return current


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

    spark: SparkSession
    settings: Settings
    topic_id: str = "0"
    stats: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        jvm: Any = self.spark._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._Path(self.settings.storage.root).getFileSystem(self.spark._jsc.hadoopConfiguration())
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
        self._fs.delete(self._Path(staging), True)
        clock["publish"] = time.monotonic()
        if self.settings.history is not None and self.settings.history.register_partitions:
            self._register(batch_id, published)
            clock["register"] = time.monotonic()
        marks = list(clock.items())
        stat = {"batch_id": batch_id, "landed": counts["landing"], "quarantined": counts["quarantine"],
                "seconds": round(time.monotonic() - started, 2),
                **{f"s_{name}": round(t - marks[i][1], 2) for i, (name, t) in enumerate(marks[1:])}}
        self.stats.append(stat)
        log.info("ingest batch %d committed: %s", batch_id, json.dumps(stat))
        self._record(batch_id, started_at, stat)

    def _record(self, batch_id: int, started_at: datetime, stat: dict) -> None:
        """One ``job_runs`` row per committed batch, like every other job's run. Its id is
        the batch's (topic, number): a replayed batch rewrites its row, never adds one. The
        data is committed already: an unreachable store is a warning, not a failed batch."""
        record = RunRecord(JOB, run_id=f"ingest-{self._tag}-b{batch_id:010d}", started_at=started_at,
                           finished_at=started_at + timedelta(seconds=stat["seconds"]), status="succeeded",
                           rows_in=stat["landed"] + stat["quarantined"], rows_out=stat["landed"],
                           rows_rejected=stat["quarantined"], duration_s=stat["seconds"], details=stat)
        try:
            SqlStore(self.settings).upsert(JOB_RUNS, [record.row()])
        except SqlUnavailable as exc:
            log.warning("ingest batch %d: its job_runs row was not written: %s", batch_id, exc)

    def _publish(self, batch_id: int, staged: str, target: str) -> set[tuple[str, int]]:
        """Rename the staged Parquet files of one batch into the partition dirs of ``target``;
        returns the (date, hour) partitions they went to."""
        partitions = set()
        for status in self._fs.globStatus(self._Path(f"{staged}/date=*/hour=*/*.parquet")) or []:
            src = status.getPath()
            date_dir, hour_dir = src.getParent().getParent().getName(), src.getParent().getName()
            dst_dir = self._Path(f"{target}/{date_dir}/{hour_dir}")
            self._fs.mkdirs(dst_dir)
            if not self._fs.rename(src, self._Path(dst_dir, self._prefix(batch_id) + src.getName())):
                raise OSError(f"could not move {src} into {dst_dir}")
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
        self._fs.delete(self._Path(staging), True)
        for target in self._targets.values():
            for status in self._fs.globStatus(self._Path(f"{target}/date=*/hour=*/{self._prefix(batch_id)}*")) or []:
                log.info("ingest batch %d: removing %s of an interrupted attempt", batch_id,
                         status.getPath().getName())
                self._fs.delete(status.getPath(), False)


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest run wrote (each batch also has its ``job_runs`` row)."""

    batches: int
    landed: int
    quarantined: int
    seconds: float
    event_time: dict[str, str] | None  # Spark's min/avg/max/watermark of the last batch with events
    duration_ms: dict[str, int]  # Spark's time per stage, summed over batches
    batch_stats: list[dict] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "batch_stats"}


def run_ingest(spark: SparkSession, settings: Settings, *, timeout_s: float | None = None) -> IngestSummary:
    """Run the ingest stream: availableNow returns when caught up; processingTime runs until
    ``timeout_s`` (or forever). Returns a summary of what was written (each batch also has
    its ``job_runs`` row)."""
    rules = rules_from_settings(settings)
    try:
        SqlStore(settings).create_tables((JOB_RUNS,))
    except SqlUnavailable as exc:
        log.warning("ingest: job_runs unreachable, batches will not be recorded there: %s", exc)
    publisher = BatchPublisher(spark, settings, topic_id=_check_topic_identity(spark, settings))
    parsed = parse_events(read_kafka_stream(spark, settings), rules) \
        .withWatermark("event_time", settings.ingest.watermark_delay)
    writer = (parsed.writeStream.queryName("sensorwatch_ingest")
              .option("checkpointLocation", qualified(spark, ingest_checkpoint(settings)))
              .foreachBatch(publisher))
    if settings.ingest.trigger == "availableNow":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.ingest.processing_time)
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
    return IngestSummary(
        batches=len(publisher.stats),
        landed=sum(s["landed"] for s in publisher.stats),
        quarantined=sum(s["quarantined"] for s in publisher.stats),
        seconds=round(time.monotonic() - started, 2),
        event_time=next((r["eventTime"] for r in reversed(query.recentProgress) if r.get("eventTime", {}).get("max")),
                        None),
        duration_ms=durations,
        batch_stats=publisher.stats,
    )


def landed_summary(spark: SparkSession, settings: Settings) -> dict:
    """Counts per landing partition and per quarantine reason (empty when nothing landed)."""
    out: dict = {"landing": [], "quarantine": [], "landing_total": 0, "quarantine_total": 0}
    for name, path in (("landing", settings.storage.landing), ("quarantine", settings.storage.quarantine)):
        try:
            df = spark.read.parquet(path)
        except Exception as exc:  # Spark raises AnalysisException for a missing path
            if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
                continue
            raise
        if name == "landing":
            rows = (df.groupBy("date", "hour").agg(F.count("*").alias("events"),
                                                   F.countDistinct("asset_id").alias("assets"))
                    .orderBy("date", "hour").collect())
        else:
            rows = df.groupBy("reason").agg(F.count("*").alias("events")).orderBy(F.desc("events")).collect()
        out[name] = [r.asDict() for r in rows]
        out[f"{name}_total"] = sum(r["events"] for r in out[name])
    return out
