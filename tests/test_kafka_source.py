"""The kafka_py source against the real broker: exact offsets, the Tansu end-offset fix,
admission control, and clear errors."""

import pytest
from confluent_kafka import TopicPartition

from sensorwatch.connectors.kafka import (
    KafkaUnavailable,
    consumer_partitions,
    end_offsets,
    ensure_topic,
    make_producer,
    produce_all,
    reader_consumer,
)
from sensorwatch.connectors.kafka_source import TOPIC_ID, _Options, _split, cap_offsets, resume_offsets


def _produce(settings, n, partitions=2):
    ensure_topic(settings.kafka.bootstrap_servers, settings.kafka.topic, partitions)
    msgs = [(b"k%d" % (i % 5), b"v%06d" % i) for i in range(n)]
    produce_all(make_producer(settings.kafka.bootstrap_servers), settings.kafka.topic, msgs)
    return msgs


def test_end_offsets_are_the_true_ends(isolated):
    msgs = _produce(isolated, 30000)
    consumer = reader_consumer(isolated.kafka.bootstrap_servers)
    try:
        parts = consumer_partitions(consumer, isolated.kafka.topic)
        ends = end_offsets(consumer, isolated.kafka.topic, parts)
        assert parts == [0, 1] and sum(ends.values()) == len(msgs)
        # The broker's ListOffsets alone may say less (Tansu): the fix must never say less.
        listed = [consumer.get_watermark_offsets(TopicPartition(isolated.kafka.topic, p), timeout=5)[1] for p in parts]
        assert all(ends[p] >= listed[i] for i, p in enumerate(parts))
    finally:
        consumer.close()


def test_batch_read_returns_every_message_once(isolated, spark):
    msgs = _produce(isolated, 12345)
    df = (spark.read.format("kafka_py").option("kafka.bootstrap.servers", isolated.kafka.bootstrap_servers)
          .option("subscribe", isolated.kafka.topic).option("maxRecordsPerPartition", 2000).load())
    assert df.columns == ["key", "value", "topic", "partition", "offset", "timestamp", "timestampType"]
    rows = df.select("key", "value", "partition", "offset").collect()
    assert len(rows) == len(msgs)
    assert len({(r["partition"], r["offset"]) for r in rows}) == len(msgs)
    assert sorted(bytes(r["value"]) for r in rows) == sorted(v for _, v in msgs)
    for p in (0, 1):  # offsets of each partition are 0..n-1 with no gap
        offsets = sorted(r["offset"] for r in rows if r["partition"] == p)
        assert offsets == list(range(len(offsets)))


def test_cap_offsets_shares_the_limit_by_backlog():
    start = {"t": {"0": 0, "1": 100, "2": 0}}
    end = {"t": {"0": 1000, "1": 110, "2": 1000}}
    capped = cap_offsets("t", start, end, 500)["t"]
    advanced = {p: capped[p] - start["t"][p] for p in capped}
    assert sum(advanced.values()) <= 500 and advanced["1"] == 10 and advanced["0"] > 200
    assert cap_offsets("t", start, end, 10_000) == end
    assert sum(cap_offsets("t", start, end, 1)["t"][p] - start["t"][p] for p in capped) >= 1  # always progress


def test_missing_topic_and_unreachable_broker_are_clear(isolated):
    consumer = reader_consumer(isolated.kafka.bootstrap_servers)
    try:
        with pytest.raises(KafkaUnavailable, match="does not exist"):
            consumer_partitions(consumer, isolated.kafka.topic + "-never-created")
    finally:
        consumer.close()
    with pytest.raises(KafkaUnavailable, match="unreachable"):
        ensure_topic("127.0.0.1:1", "t", 1, timeout_s=2)


def test_source_requires_its_options(spark):
    with pytest.raises(Exception, match="subscribe"):
        spark.read.format("kafka_py").option("kafka.bootstrap.servers", "127.0.0.1:1").load().collect()


def test_only_the_partition_that_went_backwards_restarts_even_when_capped():
    """Accepted data loss on one partition must not re-read the healthy ones (duplicates)."""
    opts = _Options.parse({"kafka.bootstrap.servers": "x:1", "subscribe": "t", "failOnDataLoss": "false"})
    start = {"t": {"0": 100, "1": 500}}
    end = {"t": {"0": 300, "1": 50}}  # partition 1 is behind its checkpoint
    assert resume_offsets("t", start, end) == {"0": 100, "1": 0}
    capped = cap_offsets("t", {"t": resume_offsets("t", start, end)}, end, 120)
    ranges = {r.partition: (r.start, r.end) for r in _split(opts, start, capped)}
    assert ranges[0][0] == 100 and ranges[1][0] == 0
    assert sum(e - s for s, e in ranges.values()) <= 120
    recreated = {**end, TOPIC_ID: "new"}
    assert resume_offsets("t", {**start, TOPIC_ID: "old"}, recreated) == {"0": 0, "1": 0}
