"""Exactly-once: kill the ingest process hard (SIGKILL, whole process group) mid-batch,
several times, restart it, and prove every produced event landed exactly once."""

import os
import random
import signal
import subprocess
import sys
import time
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


def _start(settings) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "ingest_stream.py"), "--trigger", "availableNow"],
                            cwd=REPO, env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)


def _kill_mid_batch(proc: subprocess.Popen, rng: random.Random, batch_starts: int, log: list[str]) -> None:
    """Wait for the ``batch_starts``-th batch of this run to start, then SIGKILL everything."""
    seen = 0
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        log.append(line.rstrip())
        if "started" in line:
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
    assert quarantine.count() == 40
