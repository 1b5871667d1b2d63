"""Ingest end to end against the real broker, real HDFS and real Spark."""

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from sensorwatch.connectors.hdfs import hdfs_path, webhdfs_client
from sensorwatch.operations.landing_counts import landed_summary
from sensorwatch.pipeline.ingestion import parse_events, rules_from_settings, run_ingest, synthetic_events, warm_up
from sensorwatch.sources.produce import replay_skab_to_kafka, simulate_to_kafka

from .conftest import SKAB_DIR


def test_simulated_skab_and_bad_events_land_or_are_quarantined(isolated, spark, tmp_path):
    sim = simulate_to_kafka(isolated, assets=4, seconds=1800, seed=3, anomalies_per_asset=1, bad_events=33,
                            ground_truth=tmp_path / "sim.json")
    skab = replay_skab_to_kafka(isolated, data_dir=Path(SKAB_DIR), files=["valve2/1.csv"],
                                ground_truth=tmp_path / "skab.json")
    summary = run_ingest(spark, isolated)
    assert summary.rows_out == sim["valid_events"] + skab["valid_events"]
    assert summary.rows_rejected == 33
    # each batch is a job_runs row like every other job's run: the same counts, rejected = quarantined
    from sensorwatch.connectors.kafka import topic_id
    from sensorwatch.connectors.sql import SqlStore
    from sensorwatch.pipeline.topic_guard import path_safe

    prefix = f"ingest-{path_safe(topic_id(isolated.kafka, isolated.kafka.topic))[:8]}-b%"
    store = SqlStore(isolated)
    (batches, rows_in, rows_out, rejected), = store.query(
        f"SELECT count(*), sum(rows_in), sum(rows_out), sum(rows_rejected) FROM {store.name('job_runs')} "
        "WHERE job = 'ingest' AND status = 'succeeded' AND run_id LIKE %s", (prefix,))
    assert (batches, rows_out, rejected) == (len(summary.details.batches), summary.rows_out, 33)
    assert rows_in == summary.rows_out + 33

    landing = spark.read.parquet(isolated.storage.landing)
    per_asset = {r["asset_id"]: r["count"] for r in landing.groupBy("asset_id").count().collect()}
    assert per_asset == {**{f"pump-{i:04d}": 1800 for i in range(4)}, "skab-valve2-1": skab["valid_events"]}
    # Values survive the trip exactly (JSON %.7g): compare one simulated asset with the simulator.
    from sensorwatch.sources.simulator import simulate

    expected = simulate(4, 1800, None, seed=3, anomalies_per_asset=1)  # same seed, same values
    got = [r["current"] for r in landing.where("asset_id = 'pump-0002'").orderBy("event_time").collect()]
    assert len(got) == 1800
    assert max(abs(a - b) / abs(b) for a, b in zip(got, expected[2].values["current"])) < 1e-6

    # Hive-style partition directories, Parquet files named by batch.
    client = webhdfs_client(isolated)
    dates = client.list(hdfs_path(isolated.storage.landing))
    assert dates and all(d.startswith("date=") for d in dates)
    hours = client.list(f"{hdfs_path(isolated.storage.landing)}/{dates[0]}")
    assert all(h.startswith("hour=") for h in hours)
    files = client.list(f"{hdfs_path(isolated.storage.landing)}/{dates[0]}/{hours[0]}")
    assert files and all(f.startswith("b0000000000-") and f.endswith(".parquet") for f in files)
    assert client.list(hdfs_path(isolated.storage.path("_staging", "ingest"))) == []  # no batch left staged

    # Every bad event is in quarantine, payload intact, with the reason the producer expected.
    truth = json.loads((tmp_path / "sim.json").read_text())
    rows = spark.read.parquet(isolated.storage.quarantine).collect()
    quarantined = Counter((bytes(r["payload"]), r["reason"]) for r in rows)
    assert len(rows) == len(truth["bad_events"]) == 33
    assert Counter(bytes(r["payload"]) for r in rows) == Counter(b["payload"].encode("latin-1") for b in truth["bad_events"])
    for bad in truth["bad_events"]:
        reasons = [reason for (payload, reason) in quarantined if payload == bad["payload"].encode("latin-1")]
        assert any(bad["expected_reason"] in reason for reason in reasons), (bad, reasons)

    # The summary the demo prints agrees.
    seen = landed_summary(spark, isolated)
    assert seen["landing_total"] == summary.rows_out and seen["quarantine_total"] == 33


def test_rerun_without_new_data_adds_nothing_then_new_data_lands(isolated, spark):
    simulate_to_kafka(isolated, assets=2, seconds=300, anomalies_per_asset=0)
    first = run_ingest(spark, isolated)
    again = run_ingest(spark, isolated)
    assert first.rows_out == 600 and again.rows_out == 0 and not again.details.batches
    simulate_to_kafka(isolated, assets=3, seconds=100, anomalies_per_asset=0)
    later = run_ingest(spark, isolated)
    assert later.rows_out == 300
    assert spark.read.parquet(isolated.storage.landing).count() == 900


def test_processing_time_trigger_picks_up_new_events(isolated, spark):
    settings = isolated.with_overrides(ingest={"trigger": "processingTime", "processing_time": "2 seconds"})
    simulate_to_kafka(settings, assets=2, seconds=200, anomalies_per_asset=0)
    summary = run_ingest(spark, settings, timeout_s=25)
    assert summary.rows_out == 400
    assert spark.read.parquet(settings.storage.landing).agg(F.countDistinct("kafka_offset", "kafka_partition")).first()[0] == 400


def test_the_warm_up_runs_valid_synthetic_events_through_the_landing_path_and_leaves_nothing(isolated, spark):
    from schemas.time import now

    parsed = parse_events(synthetic_events(spark, 500, now()), rules_from_settings(isolated))
    assert parsed.count() == 500 and parsed.where(F.size("_reasons") > 0).count() == 0  # all valid: all land
    assert warm_up(spark, isolated, rows=2000) > 0
    hdfs = webhdfs_client(isolated)
    assert hdfs.list(hdfs_path(isolated.storage.path("_staging", "warm-up"))) == []
    assert hdfs.status(hdfs_path(isolated.storage.landing), strict=False) is None  # nothing landed


def test_small_trigger_limit_gives_several_batches(isolated, spark):
    settings = isolated.with_overrides(ingest={"max_offsets_per_trigger": 1000})
    simulate_to_kafka(settings, assets=5, seconds=700, anomalies_per_asset=0)
    started = time.monotonic()
    summary = run_ingest(spark, settings)
    assert len(summary.details.batches) >= 4 and summary.rows_out == 3500, (summary, time.monotonic() - started)
    assert all(b.landed <= 1000 for b in summary.details.batches)


def _recreate_topic(settings):
    from confluent_kafka.admin import AdminClient

    from sensorwatch.connectors.kafka import client_conf, ensure_topic, topic_partitions

    admin = AdminClient(client_conf(settings.kafka))
    admin.delete_topics([settings.kafka.topic])[settings.kafka.topic].result(timeout=10)
    deadline = time.monotonic() + 30
    while topic_partitions(settings.kafka, settings.kafka.topic) is not None:  # deletion is asynchronous
        assert time.monotonic() < deadline, "the topic was not deleted"
        time.sleep(0.2)
    ensure_topic(settings.kafka, settings.kafka.topic, settings.kafka.partitions)


def test_recreated_topic_fails_clearly_or_is_read_from_its_start(isolated, spark):
    """A topic deleted and created again must never make ingest skip events silently: Spark's
    source sees only offsets, and the new topic has more messages than were read."""
    from sensorwatch.pipeline.topic_guard import IngestFailed

    strict = isolated.with_overrides(ingest={"fail_on_data_loss": True})
    simulate_to_kafka(strict, assets=2, seconds=300, anomalies_per_asset=0)
    assert run_ingest(spark, strict).rows_out == 600
    _recreate_topic(strict)
    simulate_to_kafka(strict, assets=2, seconds=400, anomalies_per_asset=0)  # more than before: offsets alone can't tell
    with pytest.raises(IngestFailed, match=r"was recreated .*delete the ingest checkpoint \(hdfs://.*checkpoints/ingest\)"):
        run_ingest(spark, strict)
    assert spark.read.parquet(strict.storage.landing).count() == 600  # nothing half-written

    lenient = strict.with_overrides(ingest={"fail_on_data_loss": False})
    assert run_ingest(spark, lenient).rows_out == 800  # the whole new topic
    assert spark.read.parquet(strict.storage.landing).count() == 1400


def test_topic_ids_become_one_path_segment():
    # librdkafka prints ids in standard base64: a '/' once made the set-aside checkpoint a
    # path under a missing folder, the rename failed, and the old offsets were reused.
    from sensorwatch.pipeline.topic_guard import path_safe

    assert path_safe("/JRg1keAQh+qSlTemQSpzw") == "_JRg1keAQh-qSlTemQSpzw"


def test_missing_topic_is_a_clear_failure_not_a_created_topic(isolated, spark):
    from sensorwatch.connectors.kafka import topic_partitions
    from sensorwatch.pipeline.topic_guard import IngestFailed

    with pytest.raises(IngestFailed, match=f"topic '{isolated.kafka.topic}' does not exist"):
        run_ingest(spark, isolated)
    assert topic_partitions(isolated.kafka, isolated.kafka.topic) is None  # not created behind our back


def test_ingest_over_sasl_ssl_lands_events_and_a_wrong_password_is_refused(isolated, spark):
    """The yarn profile's path: SCRAM-SHA-512 over TLS (the test CA) for the producer, the
    pre-flight checks and Spark's own Kafka source."""
    from sensorwatch.connectors.kafka import KafkaUnavailable, spark_options
    from tests.conftest import sasl_settings

    secure = sasl_settings(isolated)
    simulate_to_kafka(secure, assets=2, seconds=300, anomalies_per_asset=0)
    assert run_ingest(spark, secure).rows_out == 600

    wrong = secure.with_overrides(kafka={"password": "wrong"}, storage={"root": secure.storage.root + "-wrong"})
    with pytest.raises(KafkaUnavailable):
        run_ingest(spark, wrong)
    with pytest.raises(Exception, match="(?i)authentication failed"):  # Spark's own client, in the JVM
        (spark.read.format("kafka").options(**spark_options(wrong.kafka)).option("subscribe", wrong.kafka.topic)
         .load().count())


def test_an_unreachable_history_endpoint_warns_and_loses_nothing(isolated, spark, caplog, capsys, monkeypatch):
    """Registering partitions happens after the batch is committed: with the HiveServer2
    endpoint down, every event still lands, the run says what to do, and the CLI's
    `history sync` names the endpoint in one clear line."""
    from sensorwatch.cli import main

    down = isolated.with_overrides(history={"host": "127.0.0.1", "port": 19999, "register_partitions": True})
    simulate_to_kafka(down, assets=2, seconds=60, anomalies_per_asset=0)
    with caplog.at_level("WARNING", logger="sensorwatch.pipeline.ingestion"):
        assert run_ingest(spark, down).rows_out == 120
    assert "run `sensorwatch history sync` later" in caplog.text and "127.0.0.1:19999" in caplog.text
    assert spark.read.parquet(down.storage.landing).count() == 120
    monkeypatch.setenv("SENSORWATCH__HISTORY__PORT", "19999")
    assert main(["history", "sync"]) == 1
    assert "HistoryUnavailable: HiveServer2 at 127.0.0.1:19999 unreachable" in capsys.readouterr().err


def test_ten_thousand_adversarial_messages_among_valid_traffic(isolated, spark):
    """Bad input at volume through the real broker and ingest job: ~10,000 malformed and
    adversarial messages (tests/adversarial.py: broken UTF-8, payloads past the size limit,
    deep JSON, NaN, duplicate keys, unicode and SQL/path metacharacters, timestamps at
    every edge) mixed with valid ones and a simulator's plain traffic. Every bad one is in
    quarantine with its reason and its bytes, every good one landed exactly once with its
    asset id as sent, and the job finishes."""
    import random

    from sensorwatch.connectors.kafka import ensure_topic, make_producer
    from tests.adversarial import Limits, case

    rules = isolated.ingest
    now_ms = int(time.time() * 1000)
    limits = Limits(now_ms, int(rules.min_event_time.timestamp() * 1000), rules.max_future_skew_s,
                    rules.max_payload_bytes)
    rng = random.Random(20261202)
    cases = [case(rng, limits, 1_000_000 + i, bad_share=0.5) for i in range(20_000)]
    bad = [c for c in cases if c.reason is not None]
    ensure_topic(isolated.kafka, isolated.kafka.topic, isolated.kafka.partitions)
    producer = make_producer(isolated.kafka, **{"message.max.bytes": 1_000_000})
    for i, c in enumerate(cases):
        while True:
            try:  # the Kafka timestamp is the one the cases' time edges were built against
                producer.produce(isolated.kafka.topic, value=c.payload, key=b"k%d" % i, timestamp=now_ms)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0
    plain = simulate_to_kafka(isolated, assets=2, seconds=600, anomalies_per_asset=0)

    summary = run_ingest(spark, isolated)
    good = [c for c in cases if c.reason is None]
    assert len(bad) > 9_500 and summary.rows_rejected == len(bad)
    assert summary.rows_out == len(good) + plain["valid_events"]
    landed = spark.read.parquet(isolated.storage.landing).where(F.col("seq") >= 1_000_000)
    assert Counter((r["asset_id"], r["seq"]) for r in landed.select("asset_id", "seq").collect()) == \
        Counter((c.asset_id, c.seq) for c in good)
    rows = spark.read.parquet(isolated.storage.quarantine).select("payload", "reason").collect()
    reasons: dict[bytes, list[str]] = {}
    for r in rows:
        reasons.setdefault(bytes(r["payload"] or b""), []).append(r["reason"])
    assert Counter(bytes(c.payload) for c in bad) == Counter({p: len(v) for p, v in reasons.items()})
    for c in bad:
        assert any(any(part.startswith(c.reason) for part in reason.split("; ")) for reason in reasons[c.payload]), \
            (c.kind, c.reason, reasons[c.payload])


def test_a_stream_that_cannot_start_is_reported_by_its_cause():
    """What a run started while HDFS is in low-resource safe mode printed (bench/faults.py,
    ingest_disk_nearly_full) before: Py4JJavaError's traceback; now one IngestFailed line."""
    from sensorwatch.pipeline.ingestion import _root_cause

    py4j_text = (
        "An error occurred while calling o100.start.\n"
        ": org.apache.hadoop.hdfs.server.namenode.SafeModeException: Cannot create directory "
        "/sensorwatch/checkpoints/ingest. Name node is in safe mode.\n"
        "Resources are low on NN. Please add or free up more resources.\n"
        "\tat org.apache.hadoop.hdfs.server.namenode.FSNamesystem.newSafemodeException(FSNamesystem.java:1687)\n")
    assert _root_cause(py4j_text).startswith("org.apache.hadoop.hdfs.server.namenode.SafeModeException: Cannot create")
    assert _root_cause("first line\nsecond") == "first line" and _root_cause("") == "unknown error"
