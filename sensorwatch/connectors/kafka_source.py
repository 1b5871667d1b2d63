"""``format("kafka_py")``: a Kafka source for Spark built on the Python Data Source API.

Spark's own Kafka connector jars (spark-sql-kafka-0-10) cannot be had here. This source
gives the same columns and the same option names, so a cluster that has the jar switches
with ``kafka.source_format: kafka`` and nothing else changes:

    key binary, value binary, topic string, partition int, offset bigint,
    timestamp timestamp, timestampType int

Options (Spark lower-cases them): ``kafka.bootstrap.servers``, ``subscribe`` (one topic),
``startingOffsets`` (earliest|latest), ``maxOffsetsPerTrigger``, ``failOnDataLoss``,
``maxRecordsPerPartition`` (split big ranges so both cores work).

Offsets are ``{"topic": {"partition": next_offset}, "_topic_id": id}``: Spark writes them
to the checkpoint before a batch runs and replays exactly that range after a crash, which
with an idempotent sink gives exactly-once. The topic id (KIP-516) tells a recreated topic
(or a broker that lost its data, like the in-memory Tansu after a restart) from the one the
checkpoint was made on; so does an end offset behind the checkpoint. Then, as Spark's own
source does, ``failOnDataLoss=true`` stops the query with a clear error, and ``false``
restarts from the new topic's beginning with a warning. Nothing is skipped silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

KAFKA_COLUMNS = StructType([
    StructField("key", BinaryType()),
    StructField("value", BinaryType()),
    StructField("topic", StringType()),
    StructField("partition", IntegerType()),
    StructField("offset", LongType()),
    StructField("timestamp", TimestampType()),
    StructField("timestampType", IntegerType()),
])
ARROW_COLUMNS = pa.schema([
    ("key", pa.binary()), ("value", pa.binary()), ("topic", pa.string()), ("partition", pa.int32()),
    ("offset", pa.int64()), ("timestamp", pa.timestamp("us", tz="UTC")), ("timestampType", pa.int32()),
])
ROWS_PER_ARROW_BATCH = 20000
TOPIC_ID = "_topic_id"


class KafkaDataLoss(RuntimeError):
    """Offsets Spark asked for are gone from the broker (retention) or never arrived."""


@dataclass(frozen=True)
class KafkaRange(InputPartition):
    topic: str
    partition: int
    start: int  # first offset to read
    end: int  # exclusive


@dataclass(frozen=True)
class _Options:
    bootstrap: str
    topic: str
    starting: str
    max_per_trigger: int | None
    max_per_partition: int
    fail_on_data_loss: bool
    poll_timeout_s: float
    checkpoint_hint: str

    @classmethod
    def parse(cls, options: dict) -> "_Options":
        opts = {k.lower(): v for k, v in options.items()}
        missing = [k for k in ("kafka.bootstrap.servers", "subscribe") if not opts.get(k)]
        if missing:
            raise ValueError(f"kafka_py source needs option(s): {', '.join(missing)}")
        if "," in opts["subscribe"]:
            raise ValueError("kafka_py source reads one topic per query ('subscribe' has a comma)")
        starting = opts.get("startingoffsets", "earliest")
        if starting not in ("earliest", "latest"):
            raise ValueError(f"startingOffsets must be earliest or latest, got {starting!r}")
        max_trigger = opts.get("maxoffsetspertrigger")
        return cls(
            bootstrap=opts["kafka.bootstrap.servers"], topic=opts["subscribe"], starting=starting,
            max_per_trigger=int(max_trigger) if max_trigger else None,
            max_per_partition=int(opts.get("maxrecordsperpartition", 100000)),
            fail_on_data_loss=opts.get("failondataloss", "true").lower() == "true",
            poll_timeout_s=float(opts.get("kafkaconsumer.polltimeoutms", 120000)) / 1000.0,
            checkpoint_hint=f" ({opts['sensorwatch.checkpoint']})" if opts.get("sensorwatch.checkpoint") else "",
        )


def _split(opts: _Options, start: dict, end: dict) -> list[KafkaRange]:
    ranges = []
    resume = resume_offsets(opts.topic, start, end)
    for part, stop in sorted(end.get(opts.topic, {}).items(), key=lambda kv: int(kv[0])):
        first = resume[part]
        while first < stop:
            last = min(stop, first + opts.max_per_partition)
            ranges.append(KafkaRange(opts.topic, int(part), first, last))
            first = last
    return ranges


def _read_range(opts: _Options, rng: KafkaRange) -> Iterator[pa.RecordBatch]:
    """Fetch offsets [start, end) of one partition as Arrow record batches."""
    from confluent_kafka import TopicPartition

    from sensorwatch.connectors.kafka import reader_consumer

    consumer = reader_consumer(opts.bootstrap)
    try:
        consumer.assign([TopicPartition(rng.topic, rng.partition, rng.start)])
        cols: dict[str, list] = {name: [] for name in ARROW_COLUMNS.names}
        next_offset, deadline = rng.start, time.monotonic() + opts.poll_timeout_s
        while next_offset < rng.end:
            msgs = consumer.consume(min(10000, rng.end - next_offset), timeout=1.0)
            if not msgs:
                if time.monotonic() > deadline:
                    raise KafkaDataLoss(f"no data from {rng.topic}[{rng.partition}] at offset {next_offset} "
                                        f"(range {rng.start}-{rng.end}) within {opts.poll_timeout_s:.0f}s")
                continue
            deadline = time.monotonic() + opts.poll_timeout_s
            for msg in msgs:
                if msg.error() is not None:
                    raise KafkaDataLoss(f"fetch from {rng.topic}[{rng.partition}] failed: {msg.error()}")
                offset = msg.offset()
                if offset >= rng.end:
                    next_offset = rng.end
                    break
                if offset > next_offset and next_offset == rng.start and opts.fail_on_data_loss:
                    raise KafkaDataLoss(f"{rng.topic}[{rng.partition}] offsets {rng.start}-{offset - 1} are gone "
                                        "(retention?); set failOnDataLoss=false to skip them")
                ts_type, ts = msg.timestamp()
                cols["key"].append(msg.key())
                cols["value"].append(msg.value())
                cols["offset"].append(offset)
                cols["timestamp"].append(ts * 1000 if ts_type else None)
                cols["timestampType"].append(ts_type - 1 if ts_type else None)  # Spark: 0 create, 1 log-append
                next_offset = offset + 1
            if len(cols["offset"]) >= ROWS_PER_ARROW_BATCH or next_offset >= rng.end:
                yield _to_batch(cols, rng)
                cols = {name: [] for name in ARROW_COLUMNS.names}
        if cols["offset"]:
            yield _to_batch(cols, rng)
    finally:
        consumer.close()


def _to_batch(cols: dict[str, list], rng: KafkaRange) -> pa.RecordBatch:
    n = len(cols["offset"])
    return pa.RecordBatch.from_arrays([
        pa.array(cols["key"], pa.binary()),
        pa.array(cols["value"], pa.binary()),
        pa.array([rng.topic] * n, pa.string()),
        pa.array([rng.partition] * n, pa.int32()),
        pa.array(cols["offset"], pa.int64()),
        pa.array(cols["timestamp"], pa.timestamp("us", tz="UTC")),
        pa.array(cols["timestampType"], pa.int32()),
    ], schema=ARROW_COLUMNS)


def topic_changed(start: dict, end: dict) -> bool:
    """True when ``end`` was read from another incarnation of the topic than ``start``."""
    return bool(start.get(TOPIC_ID) and end.get(TOPIC_ID) and start[TOPIC_ID] != end[TOPIC_ID])


def partitions_behind(topic: str, start: dict, end: dict) -> dict[str, tuple[int, int]]:
    """Partitions whose broker end is behind the checkpointed start: (checkpoint, broker)."""
    start_p, end_p = start.get(topic, {}), end.get(topic, {})
    return {p: (o, end_p[p]) for p, o in start_p.items() if p in end_p and end_p[p] < o}


def resume_offsets(topic: str, start: dict, end: dict) -> dict[str, int]:
    """Where each partition of ``end`` is read from: its ``start`` offset (0 if new), or 0
    when the topic was recreated or that partition went backwards (data loss accepted)."""
    if topic_changed(start, end):
        return {p: 0 for p in end.get(topic, {})}
    behind = partitions_behind(topic, start, end)
    return {p: 0 if p in behind else start.get(topic, {}).get(p, 0) for p in end.get(topic, {})}


def check_continuity(opts: "_Options", start: dict, end: dict, checkpoint_hint: str = "") -> None:
    """Raise (failOnDataLoss) or warn when the topic was recreated or went backwards."""
    problems = []
    if topic_changed(start, end):
        problems.append(f"topic '{opts.topic}' was recreated (id {start[TOPIC_ID]} -> {end[TOPIC_ID]})")
    behind = partitions_behind(opts.topic, start, end)
    if behind and not problems:
        problems.append(f"topic '{opts.topic}' partitions went backwards (checkpoint -> broker): {behind}")
    if not problems:
        return
    message = (f"{problems[0]}: the data the checkpoint points into is gone (a broker that keeps data in "
               "memory only, like Tansu, loses it on restart).")
    if opts.fail_on_data_loss:
        raise KafkaDataLoss(f"{message} Either delete the ingest checkpoint{checkpoint_hint} to start over, or "
                            "set failOnDataLoss=false (conf ingest.fail_on_data_loss) to read the topic from its "
                            "beginning.")
    print(f"WARNING kafka_py: {message} failOnDataLoss=false: reading it from its beginning.", flush=True)


class _Offsets:
    """Driver-side offset lookups, with one lazily created consumer."""

    def __init__(self, opts: _Options):
        self.opts = opts
        self._consumer = None
        self.last_seen: dict | None = None

    def __getstate__(self):  # readers are pickled to executors; consumers are not picklable
        return {"opts": self.opts, "_consumer": None, "last_seen": None}

    def _client(self):
        from sensorwatch.connectors.kafka import reader_consumer

        if self._consumer is None:
            self._consumer = reader_consumer(self.opts.bootstrap)
        return self._consumer

    def latest(self) -> dict:
        from sensorwatch.connectors.kafka import consumer_partitions, end_offsets

        client = self._client()
        ends = end_offsets(client, self.opts.topic, consumer_partitions(client, self.opts.topic))
        self.last_seen = self._with_id({self.opts.topic: {str(p): off for p, off in ends.items()}})
        return self.last_seen

    def _with_id(self, offsets: dict) -> dict:
        from sensorwatch.connectors.kafka import topic_id

        tid = topic_id(self.opts.bootstrap, self.opts.topic)
        return {**offsets, TOPIC_ID: tid} if tid else offsets

    def earliest(self) -> dict:
        from confluent_kafka import TopicPartition

        from sensorwatch.connectors.kafka import consumer_partitions

        client = self._client()
        parts = consumer_partitions(client, self.opts.topic)
        low = {str(p): client.get_watermark_offsets(TopicPartition(self.opts.topic, p), timeout=10)[0] for p in parts}
        return self._with_id({self.opts.topic: low})

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def cap_offsets(topic: str, start: dict, end: dict, max_rows: int) -> dict:
    """Advance at most ``max_rows`` past ``start``, shared across partitions by backlog."""
    start_p, end_p = start.get(topic, {}), end.get(topic, {})
    backlog = {p: max(0, e - start_p.get(p, 0)) for p, e in end_p.items()}
    total = sum(backlog.values())
    if total <= max_rows:
        return end
    capped, budget = {}, max_rows
    for p, lag in sorted(backlog.items(), key=lambda kv: kv[1]):  # smallest backlog first
        remaining = sum(1 for q in backlog if q not in capped)
        share = min(lag, max(1, budget // remaining)) if budget > 0 else 0
        capped[p] = start_p.get(p, 0) + share
        budget -= share
    return {topic: capped}


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict):
        self.opts = _Options.parse(options)
        self.offsets = _Offsets(self.opts)
        self._available_now_end: dict | None = None

    def initialOffset(self) -> dict:
        return self.offsets.earliest() if self.opts.starting == "earliest" else self.offsets.latest()

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.opts.max_per_trigger) if self.opts.max_per_trigger else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        # Fix the end once: availableNow processes what is there now, in capped batches.
        self._available_now_end = self.offsets.latest()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        end = self._available_now_end or self.offsets.latest()
        check_continuity(self.opts, start, end, self.opts.checkpoint_hint)
        if isinstance(limit, ReadMaxRows):
            resumed = {self.opts.topic: resume_offsets(self.opts.topic, start, end)}  # the same rule as _split
            return {**cap_offsets(self.opts.topic, resumed, end, limit.max_rows),
                    **({TOPIC_ID: end[TOPIC_ID]} if TOPIC_ID in end else {})}
        return end

    def reportLatestOffset(self) -> dict | None:
        # For progress reports only: the end seen by the last latestOffset, not a new lookup.
        return self.offsets.last_seen

    def partitions(self, start: dict, end: dict) -> list[KafkaRange]:
        return _split(self.opts, start, end)

    def read(self, partition: KafkaRange) -> Iterator[pa.RecordBatch]:
        return _read_range(self.opts, partition)

    def commit(self, end: dict) -> None:
        """Nothing to do: progress lives in Spark's checkpoint, not in Kafka consumer groups."""

    def stop(self) -> None:
        self.offsets.close()


class KafkaBatchReader(DataSourceReader):
    """``spark.read.format("kafka_py")``: everything from startingOffsets to the current end."""

    def __init__(self, options: dict):
        self.opts = _Options.parse(options)

    def partitions(self) -> list[KafkaRange]:
        offsets = _Offsets(self.opts)
        try:
            start = offsets.earliest() if self.opts.starting == "earliest" else offsets.latest()
            return _split(self.opts, start, offsets.latest())
        finally:
            offsets.close()

    def read(self, partition: KafkaRange) -> Iterator[pa.RecordBatch]:
        return _read_range(self.opts, partition)


class KafkaPyDataSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "kafka_py"

    def schema(self) -> StructType:
        return KAFKA_COLUMNS

    def reader(self, schema: StructType) -> KafkaBatchReader:
        return KafkaBatchReader(self.options)

    def streamReader(self, schema: StructType) -> KafkaStreamReader:
        return KafkaStreamReader(self.options)
