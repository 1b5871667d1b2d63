"""Faults, measured (not a test): each scenario injects a fault into the real services with
a known input and counts what landed, what was lost, what was duplicated, how long
recovery took, and whether a BI query polling during the fault ever saw partial rows.

    .venv/bin/python bench/faults.py [--only NAME ...] [--list]

Ingest (a simulator's events plus malformed ones into a topic of their own; the invariant:
every produced offset is in landing or quarantine exactly once, no gaps):
* ``ingest_kill9_x5``: the ingest driver's process group SIGKILLed 5 times mid-batch, then
  a clean run;
* ``ingest_broker_restart``: the Kafka broker stopped and started under a running stream;
* ``ingest_namenode_restart``: the HDFS NameNode SIGKILLed mid-write and started again;
* ``ingest_datanode_restart``: the DataNode SIGKILLed mid-write and started again;
* ``ingest_disk_nearly_full``: the NameNode restarted mid-stream needing more free disk than
  there is: low-resource safe mode (every write refused) until the space is "freed".

Prediction (4 simulated pumps with injected anomalies and a champion: tests/scoring_setup;
the invariant: the stored scores and events equal a clean run's, and a BI query polling
every 50 ms sees either none or all of a table's rows):
* ``predict_sql_killed_mid_write``: CrateDB SIGKILLed while the run's scores are being
  upserted, started again 5 s later;
* ``predict_cluster_node_killed``: a 3-node CrateDB cluster (one replica per shard) beside
  the embedded node; one node SIGKILLed while the run upserts its scores;
* ``predict_kill9_before_events``: the run SIGKILLed once its scores are stored and
  before its events are (re-run afterwards);
* ``predict_two_runs_at_once``: two runs for the same interval started together (a
  retried Airflow task);
* ``model_foreign_signature_promoted``: a version whose input signature names a column the
  features lack, promoted by hand: refused by name, nothing written; the rollback restores
  the clean run's rows;
* ``model_artifact_deleted`` / ``model_artifact_corrupted``: the champion's network file
  removed from, or overwritten in, the registry's artifact store: a clear error, nothing
  written.

The last line is one JSON object: per scenario its counts and seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd

from schemas import ANOMALY_EVENTS, ANOMALY_SCORES
from schemas.time import TimeRange
from sensorwatch import services
from sensorwatch.config import Settings, load_settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q
from sensorwatch.sources.produce import simulate_to_kafka

if TYPE_CHECKING:
    from models.detector import Detector


@dataclass
class Result:
    scenario: str
    produced: int = 0
    landed: int = 0
    lost: int = 0
    duplicated: int = 0
    partial_reads: int | None = None  # None: no BI poller for this scenario
    polls: int = 0
    hidden_at_end: int | None = None  # rows in the tables that the views do not show once it is over
    recovery_s: float | None = None
    equal_to_clean_run: bool | None = None
    outcome: str = ""
    details: dict = field(default_factory=dict)


VIEW_OF = {ANOMALY_SCORES.name: "v_asset_scores", ANOMALY_EVENTS.name: "v_anomaly_events"}


# -- ingest ---------------------------------------------------------------------------
def _ingest_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1",
            "SENSORWATCH__KAFKA__TOPIC": settings.kafka.topic,
            "SENSORWATCH__KAFKA__PARTITIONS": str(settings.kafka.partitions),
            "SENSORWATCH__STORAGE__ROOT": settings.storage.root,
            "SENSORWATCH__INGEST__MAX_OFFSETS_PER_TRIGGER": str(settings.ingest.max_offsets_per_trigger),
            "SENSORWATCH__INGEST__PROCESSING_TIME": settings.ingest.processing_time}


def _ingest(settings: Settings, *trigger: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "ingest_stream.py"),
                             *(trigger or ("--trigger", "availableNow"))], cwd=REPO, env=_ingest_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for_batch(proc: subprocess.Popen, nth: int, log: list[str], timeout_s: float = 240) -> bool:
    seen, deadline = 0, time.monotonic() + timeout_s
    for line in proc.stdout:  # type: ignore[union-attr]
        log.append(line.rstrip())
        if "ingest batch" in line and "started" in line:
            seen += 1
            if seen >= nth:
                return True
        if time.monotonic() > deadline:
            break
    return False


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _offsets(spark, settings: Settings, produced: int, result: Result) -> None:
    """Every produced offset in landing or quarantine exactly once."""
    landing = spark.read.parquet(settings.storage.landing).select("kafka_partition", "kafka_offset")
    quarantine = spark.read.parquet(settings.storage.quarantine).select("kafka_partition", "kafka_offset")
    rows = [(r[0], r[1]) for r in landing.union(quarantine).collect()]
    distinct = set(rows)
    result.produced, result.landed = produced, len(distinct)
    result.duplicated, result.lost = len(rows) - len(distinct), produced - len(distinct)
    result.details["quarantined"] = quarantine.count()


def _ingest_setting(base: Settings, name: str, **ingest) -> Settings:
    topic = f"faults-{name}-{uuid.uuid4().hex[:6]}".replace("_", "-")
    return base.with_overrides(kafka={"topic": topic, "partitions": 3},
                               storage={"root": f"{base.storage.root}/bench/faults/{topic}"},
                               ingest={"max_offsets_per_trigger": 6000, **ingest})


def ingest_kill9_x5(ctx: dict) -> Result:
    settings, result = _ingest_setting(ctx["base"], "kill9"), Result("ingest_kill9_x5")
    produced = simulate_to_kafka(settings, assets=12, seconds=3000, anomalies_per_asset=0, bad_events=40)["messages"]
    rng, log = random.Random(2026), []
    for kill in range(5):
        proc = _ingest(settings)
        if _wait_for_batch(proc, 2 if kill else 1, log):
            time.sleep(rng.uniform(0.0, 2.5))
        _kill(proc)
    started = time.monotonic()
    final = _ingest(settings)
    out, _ = final.communicate(timeout=900)
    result.recovery_s = round(time.monotonic() - started, 1)
    result.outcome = f"5 SIGKILLs mid-batch, then a clean run (exit {final.returncode})"
    _offsets(ctx["spark"], settings, produced, result)
    return result


def ingest_broker_restart(ctx: dict) -> Result:
    settings = _ingest_setting(ctx["base"], "broker", trigger="processingTime", processing_time="2 seconds",
                               max_offsets_per_trigger=3000)
    result = Result("ingest_broker_restart")
    produced = simulate_to_kafka(settings, assets=12, seconds=1500, anomalies_per_asset=0, bad_events=20)["messages"]
    proc = _ingest(settings, "--trigger", "processingTime", "--timeout", "600")
    log: list[str] = []
    committed, restarted_at = 0, None
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            log.append(line.rstrip())
            if "committed:" in line:
                stat = json.loads(line.split("committed:", 1)[1])
                committed += stat["landed"] + stat["quarantined"]
            if "ingest batch" in line and "started" in line and restarted_at is None and len(log) > 2:
                services.down(settings, ["kafka"])
                time.sleep(3)
                restarted_at = time.monotonic()
                services.up(settings, ["kafka"])
            if restarted_at is not None and committed >= produced:
                break
    finally:
        _kill(proc)
    result.recovery_s = round(time.monotonic() - restarted_at, 1) if restarted_at else None
    result.outcome = "broker down 3 s under a running stream; the stream went on by itself"
    _offsets(ctx["spark"], settings, produced, result)
    return result


def _hdfs_fault(ctx: dict, role: str) -> Result:
    """SIGKILL one HDFS daemon mid-batch, start it again; the run that was writing fails or
    waits; a clean run afterwards finishes the topic."""
    settings = _ingest_setting(ctx["base"], role)
    result = Result(f"ingest_{role}_restart")
    produced = simulate_to_kafka(settings, assets=12, seconds=2000, anomalies_per_asset=0, bad_events=20)["messages"]
    proc, log = _ingest(settings), []
    _wait_for_batch(proc, 2, log)
    time.sleep(1.0)
    pid = int((settings.home / "run" / f"hdfs-{role}.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    time.sleep(3)
    services.up(settings, ["hdfs"])
    try:
        out, _ = proc.communicate(timeout=300)
        first_exit = proc.returncode
    except subprocess.TimeoutExpired:
        _kill(proc)
        first_exit = "killed after 300 s"
    final = _ingest(settings)
    out, _ = final.communicate(timeout=900)
    result.recovery_s = round(time.monotonic() - killed, 1)
    result.outcome = (f"{role} SIGKILLed mid-batch, restarted after 3 s; the running job exited {first_exit}, "
                      f"a new run exited {final.returncode}")
    _offsets(ctx["spark"], settings, produced, result)
    return result


def ingest_disk_nearly_full(ctx: dict) -> Result:
    """The NameNode's disk runs low mid-stream: it is restarted needing more free space than
    the volume has (``dfs.namenode.resource.du.reserved``: what its resource checker compares
    with the free space; filling the shared disk for real is not an option), so it comes up
    in safe mode for low resources and refuses every write, as Hadoop does when the disk
    fills. Measured: what the running job and ``services up`` say; then the space is
    "freed" (the NameNode restarted with its normal reservation) and a new run finishes."""
    import shutil

    from sensorwatch.services import ServiceError, hdfs

    settings, result = _ingest_setting(ctx["base"], "diskfull"), Result("ingest_disk_nearly_full")
    produced = simulate_to_kafka(settings, assets=12, seconds=2000, anomalies_per_asset=0, bad_events=20)["messages"]
    proc, log = _ingest(settings), []
    _wait_for_batch(proc, 2, log)
    services.down(settings, ["hdfs"])
    normal = hdfs.RESERVED_BYTES
    hdfs.RESERVED_BYTES = shutil.disk_usage(settings.home / "hdfs").free + 2**40
    up_error = "services up succeeded"
    try:
        services.up(settings, ["hdfs"])
    except ServiceError as exc:
        up_error = str(exc)
    finally:
        hdfs.RESERVED_BYTES = normal
    low_since = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=300)
        first_exit = proc.returncode
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, first_exit = "", "killed after 300 s"
    job_said = _last_error(out or "")
    # A run started while the NameNode is in safe mode: what it meets is the safe mode itself.
    during = _ingest(settings)
    during_out, _ = during.communicate(timeout=300)
    during_said = f"exit {during.returncode}: {_last_error(during_out)}"
    services.down(settings, ["hdfs"])
    services.up(settings, ["hdfs"])  # the disk freed: the normal reservation, out of safe mode
    final = _ingest(settings)
    final.communicate(timeout=900)
    result.recovery_s = round(time.monotonic() - low_since, 1)
    result.outcome = (f"NameNode back in low-resource safe mode under a running stream: the running job exited "
                      f"{first_exit}; space freed, a new run exited {final.returncode}")
    result.details = {"services_up": up_error[:300], "running_job (met the restart)": job_said[:300],
                      "run started in safe mode": during_said[:400]}
    _offsets(ctx["spark"], settings, produced, result)
    return result


def ingest_namenode_restart(ctx: dict) -> Result:
    return _hdfs_fault(ctx, "namenode")


def ingest_datanode_restart(ctx: dict) -> Result:
    return _hdfs_fault(ctx, "datanode")


# -- prediction -----------------------------------------------------------------------
class Poller(threading.Thread):
    """A BI query, every 50 ms: the row counts of the scores and events of one schema, as
    its views show them (``v_asset_scores``, ``v_anomaly_events``: committed runs only).
    A count other than none or all of a table's rows is a partial read."""

    def __init__(self, settings: Settings, expected: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.settings, self.expected = settings, expected
        self.polls, self.partial, self.seen = 0, 0, set()
        self._halt = threading.Event()

    def run(self) -> None:
        import psycopg

        conf = self.settings.sql
        while not self._halt.is_set():
            try:
                with psycopg.connect(host=conf.host, port=conf.port, dbname=conf.database, user=conf.user,
                                     connect_timeout=2, autocommit=True) as c:
                    while not self._halt.is_set():
                        for table, total in self.expected.items():
                            n = c.execute(f'SELECT count(*) FROM "{conf.schema_}"."{VIEW_OF[table]}"').fetchone()[0]
                            self.polls += 1
                            self.seen.add((table, n))
                            if n not in (0, total):
                                self.partial += 1
                        time.sleep(0.05)
            except Exception:  # noqa: BLE001 - the store is down during the fault: poll again when it is back
                time.sleep(0.2)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def _predict_env(settings: Settings) -> dict[str, str]:
    from tests.scoring_setup import _overrides

    sql = settings.sql  # the store's node and table settings (a cluster's, in the cluster scenario)
    return {**os.environ, **_overrides(settings), "SENSORWATCH__ALERTS__TOPIC": settings.alerts.topic,
            "SENSORWATCH__SQL__PORT": str(sql.port), "SENSORWATCH__SQL__HTTP_PORT": str(sql.http_port),
            "SENSORWATCH__SQL__BULK_BATCH_ROWS": str(sql.bulk_batch_rows),
            "SENSORWATCH__SQL__SHARDS": str(sql.shards),
            "SENSORWATCH__SQL__REPLICAS": json.dumps(sql.replicas),  # a YAML string: "1" would read as a number
            **{f"SENSORWATCH__MODEL__DETECTOR__{k.upper()}": str(v) for k, v in settings.model.detector.items()}}


def _predict(settings: Settings) -> subprocess.Popen:
    from tests.scoring_setup import END, WARMUP, at

    return subprocess.Popen([str(REPO / ".venv" / "bin" / "sensorwatch"), "predict", "--from", at(WARMUP).isoformat(),
                             "--to", at(END).isoformat()], cwd=REPO, env=_predict_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _rows(settings: Settings, table) -> pd.DataFrame:
    store = SqlStore(settings)
    rows = store.query(f"SELECT {q.columns(table.column_names).as_string()} FROM {store.name(table)} "
                       f"ORDER BY {', '.join(table.primary_key)}")
    return pd.DataFrame(rows, columns=table.column_names).drop(columns=["run_id"])


def _same_as_clean(ctx: dict, settings: Settings) -> bool:
    return all(_rows(settings, t).equals(ctx["clean"][t.name]) for t in (ANOMALY_SCORES, ANOMALY_EVENTS))


def _fresh(ctx: dict) -> Settings:
    from tests.scoring_setup import with_schema

    return with_schema(ctx["predict_base"])


def _count(settings: Settings, table) -> int:
    store = SqlStore(settings)
    try:
        return int(store.query(f"SELECT count(*) FROM {store.name(table)}")[0][0])
    except Exception:  # noqa: BLE001 - not created yet
        return 0


def _poll(ctx: dict, settings: Settings) -> Poller:
    scores, events = ctx["clean_counts"]
    poller = Poller(settings, {ANOMALY_SCORES.name: scores, ANOMALY_EVENTS.name: events})
    poller.start()
    return poller


def _finish(ctx: dict, settings: Settings, result: Result, poller: Poller, started: float) -> Result:
    result.recovery_s = round(time.monotonic() - started, 1)
    poller.stop()
    result.partial_reads, result.polls = poller.partial, poller.polls
    result.produced = ctx["clean_counts"][0]
    result.landed = _count(settings, ANOMALY_SCORES)
    result.lost = max(0, result.produced - result.landed)
    result.equal_to_clean_run = _same_as_clean(ctx, settings)
    store = SqlStore(settings)
    result.hidden_at_end = sum(
        store.query(f"SELECT count(*) FROM {store.name(table)}")[0][0] - store.query(
            f"SELECT count(*) FROM {store.name(view)}")[0][0] for table, view in VIEW_OF.items())
    return result


@dataclass
class MidUpsert:
    """What happened when a store process was SIGKILLed mid-upsert."""

    written_when_killed: int
    first_exit: int
    rerun_exit: int | None
    out: str
    started: float


def _kill_mid_upsert(settings: Settings, pid_file: Path, restart: Callable[[], None] | None = None) -> MidUpsert:
    """A predict run; once its scores are being upserted, the process group of ``pid_file``
    SIGKILLed (and ``restart`` run); then the run's end, and a re-run if it failed."""
    from sensorwatch.services.process import read_pid

    # Batches of 5 rows: the 2,160 scores take hundreds of bulk requests, so the kill
    # lands between them (one 5,000-row batch is written before a count can see it).
    proc = _predict(settings.with_overrides(sql={"bulk_batch_rows": 5}))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and _count(settings, ANOMALY_SCORES) == 0:
        time.sleep(0.05)  # until the run's bulk upsert has begun
    written = _count(settings, ANOMALY_SCORES)
    started = time.monotonic()
    pid = read_pid(pid_file)
    if pid is not None:
        os.killpg(pid, signal.SIGKILL)
    if restart is not None:
        restart()
    out, _ = proc.communicate(timeout=600)
    rerun = None
    if proc.returncode != 0:
        again = _predict(settings)
        again.communicate(timeout=600)
        rerun = again.returncode
    return MidUpsert(written, proc.returncode, rerun, out, started)


def _exits(killed: MidUpsert) -> str:
    return f"the run exited {killed.first_exit}" + (
        f" ({_last_error(killed.out)}); the re-run exited {killed.rerun_exit}" if killed.rerun_exit is not None else "")


def predict_sql_killed_mid_write(ctx: dict) -> Result:
    settings, result = _fresh(ctx), Result("predict_sql_killed_mid_write")
    poller = _poll(ctx, settings)

    def back_after_5_s() -> None:
        time.sleep(5)
        services.up(settings, ["cratedb"])

    killed = _kill_mid_upsert(settings, settings.home / "run" / "cratedb.pid", back_after_5_s)
    result.details["scores_in_table_when_killed"] = killed.written_when_killed
    result.outcome = ("CrateDB SIGKILLed while the scores were being upserted, started again 5 s later: "
                      f"{_exits(killed)}")
    return _finish(ctx, settings, result, poller, killed.started)


CLUSTER = 3  # nodes: psql ports 15442-15444, HTTP 14211-14213, transport 14311-14313


def _cluster(settings: Settings) -> list:
    """A fresh 3-node CrateDB cluster on 127.0.0.1 beside the embedded node (its own folders
    and ports), up when all three have joined; returns its nodes."""
    import shutil

    from sensorwatch.services import cratedb
    from sensorwatch.services.process import ServiceError, wait_until

    root = cratedb.local_node(settings).state.parent / "cratedb-cluster"
    shutil.rmtree(root, ignore_errors=True)
    nodes = [cratedb.Node(f"cluster-{i}", 15441 + i, 14210 + i, 14310 + i, root / f"n{i}")
             for i in range(1, CLUSTER + 1)]
    home = cratedb.install()
    for node in nodes:
        cratedb.launch(node, cratedb.node_command(home, node, "sensorwatch-faults", tuple(nodes)), "384m",
                       settings.home / "run" / f"{node.name}.pid", settings.home / "log" / f"{node.name}.log")
    first = settings.with_overrides(sql={"port": nodes[0].psql_port, "http_port": nodes[0].http_port})

    def joined() -> bool:
        return int(SqlStore(first).query("SELECT count(*) FROM sys.nodes")[0][0]) == CLUSTER

    try:
        wait_until(joined, "a 3-node CrateDB cluster", 120, log_file=settings.home / "log" / "cluster-1.log")
    except ServiceError:
        _stop_cluster(settings, nodes)
        raise
    return nodes


def _stop_cluster(settings: Settings, nodes: list) -> None:
    from sensorwatch.services.process import stop_pid

    for node in nodes:
        stop_pid(settings.home / "run" / f"{node.name}.pid", timeout_s=30)


def predict_cluster_node_killed(ctx: dict) -> Result:
    """A 3-node cluster, every table with one replica: one node (not the one the jobs and
    the poller connect to) SIGKILLed while the run upserts its scores, never restarted."""
    fresh = _fresh(ctx)
    nodes = _cluster(fresh)
    settings = fresh.with_overrides(sql={"port": nodes[0].psql_port, "http_port": nodes[0].http_port, "replicas": "1",
                                         "shards": 3})
    result = Result("predict_cluster_node_killed")
    try:
        poller = _poll(ctx, settings)
        victim = nodes[1]
        killed = _kill_mid_upsert(settings, settings.home / "run" / f"{victim.name}.pid")
        health = SqlStore(settings).query("SELECT health, count(*) FROM sys.health GROUP BY health")
        result.details.update(scores_in_table_when_killed=killed.written_when_killed, health_after=health,
                              nodes_after=int(SqlStore(settings).query("SELECT count(*) FROM sys.nodes")[0][0]))
        result.outcome = (f"node {victim.name} of 3 SIGKILLed while the scores were being upserted (one replica): "
                          f"{_exits(killed)}")
        return _finish(ctx, settings, result, poller, killed.started)
    finally:
        _stop_cluster(settings, nodes)


def _last_error(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("sensorwatch:")]
    return lines[-1][:200] if lines else "no error line"


def predict_kill9_before_events(ctx: dict) -> Result:
    settings, result = _fresh(ctx), Result("predict_kill9_before_events")
    poller = _poll(ctx, settings)
    proc = _predict(settings)
    total = ctx["clean_counts"][0]
    state = "never saw the scores stored"
    while proc.poll() is None:
        if _count(settings, ANOMALY_SCORES) == total:
            events = _count(settings, ANOMALY_EVENTS)
            _kill(proc)
            state = f"killed with {total} scores and {events} events stored"
            break
        time.sleep(0.02)
    started = time.monotonic()
    again = _predict(settings)
    again.communicate(timeout=600)
    result.outcome = f"{state}; the re-run exited {again.returncode}"
    return _finish(ctx, settings, result, poller, started)


def predict_two_runs_at_once(ctx: dict) -> Result:
    settings, result = _fresh(ctx), Result("predict_two_runs_at_once")
    poller = _poll(ctx, settings)
    started = time.monotonic()
    first, second = _predict(settings), _predict(settings)
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    codes = [first.returncode, second.returncode]
    result.outcome = f"both started together: exits {codes}" + "".join(
        f"; {_last_error(o)}" for o, c in zip(outs, codes) if c)
    if any(codes):
        again = _predict(settings)
        again.communicate(timeout=600)
        result.outcome += f"; a re-run exited {again.returncode}"
    return _finish(ctx, settings, result, poller, started)


def _own_registry(ctx: dict) -> tuple[Settings, Path, Detector, int]:
    """A fresh schema and an MLflow store of its own holding the champion (registered and
    promoted there): (settings, store folder, the champion's detector, its version)."""
    import mlflow

    from features.compute import features_frame
    from models import registry

    store_dir = Path(tempfile.mkdtemp(prefix="faults-mlflow-"))
    settings = _fresh(ctx).with_overrides(model={"tracking_uri": str(store_dir)})
    champion = registry.load(ctx["predict_base"].model).detector
    example = features_frame(ctx["events"].head(60), settings.features.spec()).head(40)
    registry.client(settings.model)
    with mlflow.start_run(experiment_id=registry.experiment_id(settings.model)):
        version = registry.log_detector(settings.model, champion, example, store_dir / "work")
    registry.promote(settings.model, version)
    return settings, store_dir, champion, version


def _model_fault(ctx: dict, name: str, damage: Callable[[Path], None]) -> Result:
    """Register the champion in a registry of its own, break its network file in the
    registry's artifact store; predict must fail with a clear error and write nothing."""
    import shutil

    result = Result(name)
    settings, store_dir, _, _ = _own_registry(ctx)
    files = sorted((store_dir / "artifacts").rglob("model.keras"))
    for f in files:
        damage(f)
    started = time.monotonic()
    proc = _predict(settings)
    out, _ = proc.communicate(timeout=600)
    result.recovery_s = round(time.monotonic() - started, 1)
    result.outcome = f"{len(files)} artifact(s) damaged: exit {proc.returncode}: {_last_error(out)}"
    result.landed = _count(settings, ANOMALY_SCORES)
    result.details = {"traceback": "Traceback" in out}
    shutil.rmtree(store_dir, ignore_errors=True)
    return result


def model_foreign_signature_promoted(ctx: dict) -> Result:
    """A version whose input signature names a column the features do not have, promoted
    by hand (``sensorwatch model promote``): predict refuses it by name and writes nothing;
    promoting the previous champion again (the rollback) restores the clean run's rows."""
    import shutil

    from tests.scoring_setup import register_foreign_signature

    result = Result("model_foreign_signature_promoted")
    settings, store_dir, champion, good = _own_registry(ctx)
    assert champion.saved_in is not None  # loaded from the registry: its files are on disk
    register_foreign_signature(settings.model, champion.saved_in, champion.spec.columns)
    env = _predict_env(settings)
    cli = [str(REPO / ".venv" / "bin" / "sensorwatch"), "model"]
    promoted = subprocess.run([*cli, "promote", str(good + 1)], cwd=REPO, env=env, capture_output=True, text=True)
    poller = _poll(ctx, settings)
    started = time.monotonic()
    proc = _predict(settings)
    out, _ = proc.communicate(timeout=600)
    refused = f"exit {proc.returncode}: {_last_error(out)}"
    written = _count(settings, ANOMALY_SCORES)
    rollback = subprocess.run([*cli, "promote", str(good)], cwd=REPO, env=env, capture_output=True, text=True)
    again = _predict(settings)
    again.communicate(timeout=600)
    result.outcome = (f"v{good + 1} promoted by hand (exit {promoted.returncode}); predict {refused}; "
                      f"{written} rows written by it; v{good} promoted again (exit {rollback.returncode}), "
                      f"the re-run exited {again.returncode}")
    result.details = {"traceback": "Traceback" in out}
    _finish(ctx, settings, result, poller, started)
    shutil.rmtree(store_dir, ignore_errors=True)
    return result


def model_artifact_deleted(ctx: dict) -> Result:
    return _model_fault(ctx, "model_artifact_deleted", lambda p: p.unlink())


def model_artifact_corrupted(ctx: dict) -> Result:
    return _model_fault(ctx, "model_artifact_corrupted", lambda p: p.write_bytes(b"PK\x03\x04 not a keras archive"))


INGEST = {f.__name__: f for f in (ingest_kill9_x5, ingest_broker_restart, ingest_namenode_restart,
                                  ingest_datanode_restart, ingest_disk_nearly_full)}
PREDICT = {f.__name__: f for f in (predict_sql_killed_mid_write, predict_kill9_before_events, predict_two_runs_at_once,
                                   model_foreign_signature_promoted, model_artifact_deleted,
                                   model_artifact_corrupted, predict_cluster_node_killed)}


def _prepare_predict(ctx: dict, workdir: Path) -> None:
    """The pumps, a champion, and a clean run's rows to compare with."""
    from sensorwatch.pipeline.prediction import run_predict
    from tests.scoring_setup import END, WARMUP, at, isolated, land_and_train

    base, settings = isolated(ctx["base"], workdir)
    _, ctx["events"] = land_and_train(ctx["spark"], settings, workdir)
    run_predict(ctx["spark"], settings, span=TimeRange(at(WARMUP), at(END)))
    ctx["predict_base"] = base
    ctx["clean"] = {t.name: _rows(settings, t) for t in (ANOMALY_SCORES, ANOMALY_EVENTS)}
    ctx["clean_counts"] = (len(ctx["clean"][ANOMALY_SCORES.name]), len(ctx["clean"][ANOMALY_EVENTS.name]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=[*INGEST, *PREDICT])
    args = parser.parse_args()
    from sensorwatch.runtime.spark import get_spark

    base = load_settings("local")
    services.up(base)
    ctx: dict = {"base": base, "spark": get_spark(base, "bench-faults", model_runtime=True)}
    chosen = args.only or [*INGEST, *PREDICT]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        if any(name in PREDICT for name in chosen):
            _prepare_predict(ctx, Path(tmp))
        for name in chosen:
            t0 = time.monotonic()
            result = {**INGEST, **PREDICT}[name](ctx)
            result.details["scenario_s"] = round(time.monotonic() - t0, 1)
            print(f"{name}: {json.dumps(asdict(result), default=str)}", flush=True)
            results.append(result)
    print(json.dumps({"store": "cratedb", **{r.scenario: {k: v for k, v in asdict(r).items() if k != "scenario"}
                                             for r in results}}, default=str))


if __name__ == "__main__":
    main()
