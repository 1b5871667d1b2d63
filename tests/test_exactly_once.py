"""Exactly-once against the real broker: kill the ingest process hard (SIGKILL, whole process
group) mid-batch several times, or restart the Kafka broker under a running stream, and prove
every produced event landed exactly once."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sensorwatch.sources.produce import simulate_to_kafka

REPO = Path(__file__).resolve().parents[1]
KILLS = 3


def _env(settings) -> dict:
    return {**os.environ,
            "SENSORWATCH__KAFKA__TOPIC": settings.kafka.topic,
            "SENSORWATCH__KAFKA__PARTITIONS": str(settings.kafka.partitions),
            "SENSORWATCH__STORAGE__ROOT": settings.storage.root,
            "SENSORWATCH__INGEST__MAX_OFFSETS_PER_TRIGGER": str(settings.ingest.max_offsets_per_trigger),
            "PYTHONUNBUFFERED": "1"}


def _start(settings, *trigger: str) -> subprocess.Popen:
    env = {**_env(settings), "SENSORWATCH__INGEST__PROCESSING_TIME": settings.ingest.processing_time}
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "ingest_stream.py"),
                             *(trigger or ("--trigger", "availableNow"))],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # progress is logged (stderr)
                            text=True, start_new_session=True)


def _assert_each_offset_landed_once(spark, settings, total: int, quarantined: int) -> None:
    landing = spark.read.parquet(settings.storage.landing).select("kafka_partition", "kafka_offset")
    quarantine = spark.read.parquet(settings.storage.quarantine).select("kafka_partition", "kafka_offset")
    rows = [(r[0], r[1]) for r in landing.union(quarantine).collect()]
    duplicates = len(rows) - len(set(rows))
    assert duplicates == 0, f"{duplicates} duplicated events"
    assert len(rows) == total, f"{total - len(rows)} events lost"
    by_partition: dict[int, list[int]] = {}
    for p, o in rows:
        by_partition.setdefault(p, []).append(o)
    assert all(sorted(offs) == list(range(len(offs))) for offs in by_partition.values())  # no gaps
    assert quarantine.count() == quarantined


def _kill_mid_batch(proc: subprocess.Popen, rng: random.Random, batch_starts: int, log: list[str]) -> None:
    """Wait for the ``batch_starts``-th batch of this run to start, then SIGKILL everything."""
    seen = 0
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        log.append(line.rstrip())
        if "ingest batch" in line and "started" in line:
            seen += 1
            if seen >= batch_starts:
                time.sleep(rng.uniform(0.0, 2.5))  # somewhere inside the batch: read, write or publish
                break
        if time.monotonic() > deadline:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_hard_kills_mid_batch_lose_and_duplicate_nothing(isolated, spark):
    settings = isolated.with_overrides(kafka={"partitions": 3}, ingest={"max_offsets_per_trigger": 6000})
    produced = simulate_to_kafka(settings, assets=12, seconds=3000, anomalies_per_asset=0, bad_events=40)
    total = produced["messages"]  # 36,000 valid + 40 malformed, ~7 batches
    rng = random.Random(2026)
    log: list[str] = []
    for kill in range(KILLS):
        _kill_mid_batch(_start(settings), rng, batch_starts=2 if kill else 1, log=log)
        log.append(f"--- SIGKILL {kill + 1} ---")
    final = _start(settings)
    out, _ = final.communicate(timeout=600)
    log.extend(out.splitlines())
    assert final.returncode == 0, "\n".join(log[-30:])
    assert sum("SIGKILL" in line for line in log) == KILLS
    _assert_each_offset_landed_once(spark, settings, total, quarantined=40)


@pytest.mark.slow
def test_broker_restart_under_a_running_stream_loses_and_duplicates_nothing(isolated, spark):
    """`services down kafka` and `up` again while a processingTime stream runs (with batches in
    flight), then more events: the stream goes on by itself and every offset lands once."""
    from sensorwatch import services

    settings = isolated.with_overrides(kafka={"partitions": 3}, ingest={
        "trigger": "processingTime", "processing_time": "2 seconds", "max_offsets_per_trigger": 3000})
    total = simulate_to_kafka(settings, assets=12, seconds=1500, anomalies_per_asset=0, bad_events=20)["messages"]
    proc = _start(settings, "--trigger", "processingTime", "--timeout", "400")
    log: list[str] = []
    committed = 0
    restarted = False
    try:
        for line in proc.stdout:
            log.append(line.rstrip())
            if "committed:" in line:
                stat = json.loads(line.split("committed:", 1)[1])
                committed += stat["landed"] + stat["quarantined"]
            if "ingest batch" in line and "started" in line and not restarted and len(log) > 2:  # a batch is in flight
                services.down(settings, ["kafka"])
                assert not services.status(settings)["kafka"]
                time.sleep(3)
                services.up(settings, ["kafka"])
                restarted = True
                total += simulate_to_kafka(settings, assets=6, seconds=500, start=datetime(2026, 3, 1, tzinfo=UTC),
                                           anomalies_per_asset=0, bad_events=10)["messages"]
            if restarted and committed >= total:
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # every batch is committed (or the assertions say what is not)
        proc.wait(timeout=30)
    assert restarted and committed == total, "\n".join(log[-30:])
    _assert_each_offset_landed_once(spark, settings, total, quarantined=30)
