"""Load (not a test): the ingest and prediction jobs under a sustained producer.

    .venv/bin/python bench/load.py [--assets 2000] [--minutes 30] [--sample-s 10]

The rate: bench/predict.py's fleet is 1,000 pumps x 8 sensors at 1 Hz (1,000 events/s);
the default here is twice that, 2,000 pumps, sent live (``produce simulate --speedup 1``:
each reading when it happens) for ``--minutes``, one anomaly per pump after its first 10
minutes and one malformed event per ~10,000. Beside it, as a user runs them, each its
own process (spark-submit's local mode): the ingest stream (``processingTime``, the
profile's trigger) and ``predict --continuous`` (a cycle every ``predict.interval_s``)
with a champion trained on other simulated pumps (1 epoch, in a scratch MLflow store).

Every ``--sample-s`` seconds: the ingest lag (the topic's end offsets minus what the
stream has committed), and the resident memory of every JVM (ingest driver, predict
driver, Kafka broker, NameNode, DataNode) and Python process (each job's driver and its
Spark Python workers), read from /proc by process group.

When the producer is done: the stream drains, prediction cycles run until one whose clock
is ``predict.lateness_s`` past the last event, both stop, and the invariants are checked:
every produced offset in the landing zone or the quarantine exactly once; every pump
scored for every interval between its first and last scored one (no gaps), up to the last
event (``unscored_tail_s``). Memory is "flat" when the median of the last 5 minutes is within
10 % (or 64 MiB) of the median of minutes 3-8 (after the JVMs' warm-up).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mlflow

from features.compute import features_frame
from models import registry
from models.detector import Detector
from schemas import ANOMALY_SCORES, JOB_RUNS
from sensorwatch import services
from sensorwatch.config import Settings, load_settings
from sensorwatch.connectors.kafka import client_conf, ensure_topic
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.sources.simulator import simulate
from tests.landing_seed import series_frame

SENSORWATCH = str(REPO / ".venv" / "bin" / "sensorwatch")


def scratch_settings(base: Settings, scratch: Path) -> Settings:
    tag = f"load-{uuid.uuid4().hex[:6]}"
    schema = tag.replace("-", "_")
    settings = base.with_overrides(kafka={"topic": tag}, storage={"root": f"{base.storage.root}/bench/{tag}"},
                                   sql={"schema": schema}, model={"tracking_uri": str(scratch / "mlflow")},
                                   alerts={"topic": f"{tag}-anomalies"})
    SqlStore(settings).drop_schema()  # a fresh schema: CrateDB makes it with its first table
    return settings


def env_of(settings: Settings) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "SENSORWATCH__KAFKA__TOPIC": settings.kafka.topic,
            "SENSORWATCH__STORAGE__ROOT": settings.storage.root, "SENSORWATCH__SQL__SCHEMA": settings.sql.schema_,
            "SENSORWATCH__MODEL__TRACKING_URI": settings.model.tracking_uri,
            "SENSORWATCH__ALERTS__TOPIC": settings.alerts.topic}


def train_champion(settings: Settings, scratch: Path) -> int:
    """A champion for the simulator's pumps: 8 other pumps' clean hour, one epoch (the
    weights do not change what a cycle costs)."""
    spec, fspec = settings.model.spec(), settings.features.spec()
    events = series_frame(simulate(8, 3600, datetime.now(UTC) - timedelta(days=1), seed=11, anomalies_per_asset=0))
    naive = features_frame(events.assign(event_time=events["event_time"].dt.tz_localize(None)), fspec)
    detector = Detector.fit({a: g.reset_index(drop=True) for a, g in naive.groupby("asset_id")},
                            replace(spec, epochs=1, patience=2))
    registry.client(settings.model)
    with mlflow.start_run(experiment_id=registry.experiment_id(settings.model)):
        version = registry.log_detector(settings.model, detector, naive.head(spec.window + 5), scratch / "work")
    registry.promote(settings.model, version)
    return version


class Reader(threading.Thread):
    """Follows a job's output: every line kept, and what ``on_line`` picks from it."""

    def __init__(self, proc: subprocess.Popen, on_line) -> None:
        super().__init__(daemon=True)
        self.proc, self.on_line, self.lines = proc, on_line, []

    def run(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line.rstrip())
            self.on_line(time.monotonic(), line)


class Figures:
    """What the jobs' logs say: the stream's committed batches, the prediction cycles."""

    CYCLE = re.compile(r"predict cycle (\d+): (\w+) .*?, (\d+) intervals scored in ([\d.]+) s")

    def __init__(self) -> None:
        self.committed = 0
        self.batches: list[tuple[float, dict]] = []
        self.cycles: list[tuple[float, dict]] = []
        self.cycle_failures: list[str] = []

    def ingest_line(self, t: float, line: str) -> None:
        if "committed:" in line:
            stat = json.loads(line.split("committed:", 1)[1])
            self.committed += stat["landed"] + stat["quarantined"]
            self.batches.append((t, stat))

    def predict_line(self, t: float, line: str) -> None:
        if (m := self.CYCLE.search(line)) is not None:
            self.cycles.append((t, {"cycle": int(m[1]), "status": m[2], "intervals": int(m[3]),
                                    "seconds": float(m[4])}))
        elif "predict cycle" in line and "failed" in line:
            self.cycle_failures.append(line.strip()[:300])


def end_offsets(settings: Settings) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client_conf(settings.kafka), "group.id": "sensorwatch-load-probe",
                         "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(settings.kafka.topic, timeout=10).topics[settings.kafka.topic]
        return sum(consumer.get_watermark_offsets(TopicPartition(settings.kafka.topic, p), timeout=10)[1]
                   for p in (meta.partitions or {}))
    finally:
        consumer.close()


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _parents() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return found


def memory_sample(jobs: dict[str, int], daemons: dict[str, int]) -> dict[str, float]:
    """MiB per process kind: the largest process of each kind (workers: also their count).
    A job's processes are its launcher's descendants (PySpark's daemon, which forks the
    Python workers, leads a process group of its own)."""
    kinds: dict[str, list[int]] = {}
    for name, pid in daemons.items():
        if (kib := rss_kib(pid)) is not None:
            kinds.setdefault(f"{name}_jvm", []).append(kib)
    parents, owner = _parents(), {pid: name for name, pid in jobs.items()}
    for pid in parents:
        ancestor = pid
        while ancestor > 1 and ancestor not in owner:
            ancestor = parents.get(ancestor, 0)
        job = owner.get(ancestor)
        if job is None:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        kind = (f"{job}_jvm" if "java" in cmd.split(" ", 1)[0] else
                f"{job}_python_worker" if "pyspark.daemon" in cmd or "pyspark.worker" in cmd
                or "worker_daemon" in cmd else f"{job}_python")
        if (kib := rss_kib(pid)) is not None:
            kinds.setdefault(kind, []).append(kib)
    out = {kind: round(max(v) / 1024, 1) for kind, v in kinds.items()}
    out.update({f"{kind}_count": len(v) for kind, v in kinds.items() if kind.endswith("worker")})
    return out


def flatness(samples: list[dict], start_s: float, window_s: float = 300) -> dict[str, dict]:
    """Per process kind: median MiB of minutes 3-8 against the last 5 minutes."""
    kinds = sorted({k for s in samples for k in s["mib"] if not k.endswith("_count")})
    end = samples[-1]["t"]
    out = {}
    for kind in kinds:
        early = [s["mib"][kind] for s in samples if 180 <= s["t"] - start_s < 480 and kind in s["mib"]]
        late = [s["mib"][kind] for s in samples if s["t"] >= end - window_s and kind in s["mib"]]
        every = [s["mib"][kind] for s in samples if kind in s["mib"]]
        if not early or not late:
            out[kind] = {"max_mib": max(every), "samples": len(every)}
            continue
        a, b = statistics.median(early), statistics.median(late)
        out[kind] = {"minutes_3_8_mib": a, "last_5_min_mib": b, "max_mib": max(every),
                     "growth_mib": round(b - a, 1), "flat": b - a <= max(0.10 * a, 64.0), "samples": len(every)}
    return out


def stop(proc: subprocess.Popen, grace_s: float = 30) -> int | None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass
    return proc.returncode


def offsets_check(settings: Settings, produced: int) -> dict:
    from sensorwatch.runtime.spark import get_spark

    spark = get_spark(settings, "bench-load-check")
    landing = spark.read.parquet(settings.storage.landing).select("kafka_partition", "kafka_offset")
    quarantine = spark.read.parquet(settings.storage.quarantine).select("kafka_partition", "kafka_offset")
    both = landing.union(quarantine)
    rows, distinct = both.count(), both.distinct().count()
    figures = {"landed": landing.count(), "quarantined": quarantine.count(), "lost": produced - distinct,
               "duplicated": rows - distinct}
    spark.stop()
    return figures


def scores_check(settings: Settings, assets: int) -> dict:
    """Every pump scored for every interval between its first and last scored one."""
    store = SqlStore(settings)
    step = settings.features.interval_s
    rows = store.query(
        f"SELECT asset_id, count(*), min(interval_start), max(interval_start) FROM {store.name(ANOMALY_SCORES)} "
        "GROUP BY asset_id")
    gaps = sum(int((hi - lo).total_seconds() // step) + 1 - n for _, n, lo, hi in rows)
    runs = store.query(f"SELECT job, status, count(*) FROM {store.name(JOB_RUNS)} GROUP BY job, status")
    return {"score_rows": sum(r[1] for r in rows), "assets_scored": len(rows), "assets": assets, "gaps": gaps,
            "first_interval": str(min(r[2] for r in rows)) if rows else None,
            "last_interval": str(max(r[3] for r in rows)) if rows else None,
            "job_runs": {f"{job} {status}": n for job, status, n in runs}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--sample-s", type=float, default=10)
    parser.add_argument("--bad-every", type=int, default=10_000, help="one malformed event per N")
    args = parser.parse_args()

    base = load_settings("local")
    services.up(base)
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    settings = scratch_settings(base, scratch)
    version = train_champion(settings, scratch)
    seconds = int(args.minutes * 60)
    bad = args.assets * seconds // args.bad_every
    print(f"setup: champion v{version}; {args.assets} pumps live for {seconds} s "
          f"({args.assets} events/s, {bad} malformed) into {settings.kafka.topic}", flush=True)

    env, figures = env_of(settings), Figures()
    ensure_topic(settings.kafka, settings.kafka.topic, settings.kafka.partitions)  # the stream subscribes first
    start = datetime.now(UTC).replace(microsecond=0)
    producer = subprocess.Popen(
        [SENSORWATCH, "produce", "simulate", "--assets", str(args.assets), "--seconds", str(seconds),
         "--start", start.isoformat(), "--speedup", "1", "--anomalies", "1" if seconds > 1300 else "0",
         "--bad-events", str(bad),
         "--ground-truth", str(scratch / "ground_truth.json")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    ingest = subprocess.Popen([sys.executable, str(REPO / "jobs" / "ingest_stream.py"), "--trigger", "processingTime"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    readers = [Reader(producer, lambda t, line: None), Reader(ingest, figures.ingest_line)]
    for r in readers:
        r.start()
    t0 = time.monotonic()
    while not figures.batches and time.monotonic() - t0 < 300 and ingest.poll() is None:
        time.sleep(1)  # predict reads the landing zone: start it once the first batch landed
    predict = subprocess.Popen([SENSORWATCH, "predict", "--continuous"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    readers.append(Reader(predict, figures.predict_line))
    readers[-1].start()

    daemons = {name: int((base.home / "run" / f"{pid_file}.pid").read_text().split()[0])
               for name, pid_file in (("kafka", "kafka"), ("namenode", "hdfs-namenode"),
                                      ("datanode", "hdfs-datanode"))}
    jobs = {"ingest": ingest.pid, "predict": predict.pid, "producer": producer.pid}
    samples: list[dict] = []
    produced_done: float | None = None
    drained: float | None = None
    deadline = t0 + seconds + 900
    lateness_s = settings.predict.lateness_s
    while time.monotonic() < deadline:
        now = time.monotonic()
        end = end_offsets(settings)
        samples.append({"t": now, "end_offsets": end, "committed": figures.committed,
                        "lag": end - figures.committed, "mib": memory_sample(jobs, daemons)})
        ended = [(name, r) for name, r in (("ingest", readers[1]), ("predict", readers[2]))
                 if r.proc.poll() is not None]
        if ended:
            for name, reader in ended:
                print(f"{name} ended before the load did (exit {reader.proc.returncode}):", *reader.lines[-15:],
                      sep="\n", flush=True)
            break
        if produced_done is None and producer.poll() is not None:
            produced_done = now
            print(f"producer done after {now - t0:.0f} s (exit {producer.returncode})", flush=True)
            if producer.returncode:
                print(*readers[0].lines[-15:], sep="\n", flush=True)
                break
        if produced_done is not None and drained is None and figures.committed >= end:
            drained = now
            print(f"ingest drained {now - produced_done:.0f} s after the producer", flush=True)
        if drained is not None and any(t - c["seconds"] > produced_done + lateness_s for t, c in figures.cycles):
            break  # a prediction cycle whose clock was past the last event plus predict.lateness_s
        if len(samples) % 6 == 0:
            last = samples[-1]
            print(f"t={now - t0:.0f}s lag={last['lag']} committed={last['committed']} "
                  f"cycles={len(figures.cycles)} mib={json.dumps(last['mib'])}", flush=True)
        time.sleep(max(0.0, args.sample_s - (time.monotonic() - now)))

    exits = {"predict": stop(predict), "ingest": stop(ingest), "producer": stop(producer)}
    produced = end_offsets(settings)
    report = json.loads(next((line for line in reversed(readers[0].lines) if line.startswith("{")), "{}"))
    checks = offsets_check(settings, produced)
    scores = scores_check(settings, args.assets)
    last_event = start + timedelta(seconds=seconds - 1)
    scores["last_event"] = str(last_event)
    scores["unscored_tail_s"] = (last_event - datetime.fromisoformat(scores["last_interval"])).total_seconds() \
        if scores["last_interval"] else None

    lags = [s["lag"] for s in samples if produced_done is None or s["t"] <= produced_done]
    steady = [s["lag"] for s in samples if s["t"] - t0 >= 300 and (produced_done is None or s["t"] <= produced_done)]
    interval = settings.predict.interval_s
    cycle_s = [c["seconds"] for _, c in figures.cycles]
    batch_s = [b["seconds"] for _, b in figures.batches]
    result = {
        "assets": args.assets, "minutes": args.minutes, "target_events_per_s": args.assets,
        "produced": produced, "producer_events_per_s": report.get("events_per_s"),
        "bad_events": report.get("bad_events"), **checks,
        "lag_max": max(lags, default=None), "lag_max_after_5_min": max(steady, default=None),
        "lag_p95": sorted(lags)[int(0.95 * (len(lags) - 1))] if lags else None,
        "lag_max_in_seconds_of_events": round(max(lags, default=0) / args.assets, 1),
        "drain_s": round(drained - produced_done, 1) if drained and produced_done else None,
        "ingest_batches": len(batch_s), "ingest_batch_s_max": max(batch_s, default=None),
        "ingest_batch_s_mean": round(statistics.mean(batch_s), 2) if batch_s else None,
        "predict_cycles": len(cycle_s), "predict_cycle_s_max": max(cycle_s, default=None),
        "predict_cycle_s_median": statistics.median(cycle_s) if cycle_s else None,
        "predict_cycle_share_max": round(max(cycle_s, default=0) / interval, 3), "interval_s": interval,
        "predict_cycle_failures": figures.cycle_failures, **scores,
        "memory": flatness(samples, t0), "samples": len(samples), "exits": exits,
    }
    (scratch / "samples.json").write_text(json.dumps(samples))
    print(f"samples: {scratch / 'samples.json'}", flush=True)
    for name, reader in (("ingest", readers[1]), ("predict", readers[2])):
        errors = [line for line in reader.lines if "ERROR" in line or "Traceback" in line]
        if errors:
            print(f"{name}: {len(errors)} error lines, e.g. {errors[:3]}", flush=True)
    from sensorwatch.connectors.hdfs import hdfs_path, webhdfs_client

    webhdfs_client(settings).delete(hdfs_path(settings.storage.root), recursive=True)
    SqlStore(settings).drop_schema()
    shutil.rmtree(scratch / "mlflow", ignore_errors=True)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
