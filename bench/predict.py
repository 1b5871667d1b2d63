"""Prediction benchmark (not a test): one prediction cycle for many assets, how it scales,
a scheduled run end to end, and the pandas UDF's scoring throughput against in-process
scoring of the same windows.

    .venv/bin/python bench/predict.py [--assets 1000] [--scaling 250,1000,2000,4000] [--epochs 1]
                                      [--scorers onnx,tensorflow] [--memo on,off,previous]
                                      [--submit-jvm JVM_OPTIONS | --previous DIR] [--rounds N]

Setup (untimed): ``--assets`` simulated pumps x 8 sensors at 1 Hz, covering four cycles
(``predict.interval_s``, 3 minutes each) plus the lookback their windows need, seeded into a
fresh landing zone on HDFS; the configured detector (conf ``model.detector``: W=60,
LSTM(64)) trained for ``--epochs`` on a few of the pumps and registered as champion in a
scratch MLflow store (the weights do not change the cost of scoring).

Timed:
* the cycle, for each scorer of ``--scorers`` in turn (``predict.scorer``: the LSTM's forward
  pass in ONNX Runtime, or in TensorFlow, the previous path): ``run_predict`` for the interval
  ending at T - 3 cycles, as the schedule runs it, with its stages (read, features, scoring,
  write -- write includes the events update) and the CPU seconds of each kind of process;
  then the next cycle warm (T - 2 cycles: new intervals, workers up), the one after 70 s
  idle (T - 1 cycle: Spark has ended the idle Python workers, what each cycle of
  ``predict --continuous`` at a 3-minute trigger meets), and a replay of it (every row
  rewritten: an update, what the warm cycle measured before 2026-12-06). Each scorer's
  workers come from a daemon of their own (its environment names the scorer), so the
  first scorer's first cycle also warms the JVM; then ``sensorwatch submit predict --run``
  with that scorer for the interval ending at T, the next one (below), and its replay.
  ``--memo on,off`` runs all of it for each scorer with the forward pass's memo
  (``predict.memo_dir``, ``models.memo``: a directory of its own, empty at the start) and
  without it, in that order, each variant into a schema of its own (``previous``: without
  it, and the scheduled runs without the driver's class archive either: the path before
  2026-12-07);
* UDF vs direct: the same feature rows scored (a) in Spark through ``mapInPandas`` (warm
  workers: the model loaded and compiled once per worker by a first pass) and (b) in this
  process with the same detector code and the first scorer. ``udf_vs_direct`` = UDF
  windows/s / direct windows/s.

* scaling: one cycle (warm workers) for each fleet size of ``--scaling``, each on its own
  landing zone, with its stages and the peak memory of the driver JVM and of each Python
  worker (sampled from /proc every 0.2 s); ``scaling_ratio_4x`` = cycle(4N) / cycle(N) for
  the sizes N and 4N of the list (linear: 4.0);
* end to end: ``sensorwatch submit predict --run --at T`` for ``--assets``, as a scheduled
  task runs it (spark-submit, a fresh JVM, Spark session and Python workers, to done): the
  interval after the cycles' (new rows, ``submit_s``; a replay until 2026-12-06), then the
  same again (a replay, ``submit_replay_s``).

``--submit-jvm OPTIONS`` (or ``no-archive``) and ``--previous DIR`` (a checkout of an earlier
commit, ``git worktree add DIR COMMIT``) time only the scheduled run, as it is and changed,
alternating on consecutive new intervals and then as replays, ``--rounds`` pairs; the last
line is then their JSON.

The last line is one JSON object with ``cycle_s`` (the warm cycle), ``interval_s``,
``worker_rss_mib``, ``submit_s`` (end to end) of the first scorer, the same of the others
under ``scorers``, ``udf_vs_direct``, ``scaling_ratio_4x`` and the stage seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mlflow
import pandas as pd

from features.compute import features_frame
from features.transforms import compute_features
from models import registry
from models.detector import Detector
from models.serving import Grid, score_frame
from models.spark_scoring import score_features
from schemas import PREDICTION_RUNS
from sensorwatch import services
from sensorwatch.config import load_settings
from sensorwatch.connectors.hdfs import hdfs_path, webhdfs_client
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.pipeline.extract import Span, events_for, read_landing
from sensorwatch.pipeline.prediction import ARROW_BATCH_CONF, run_predict
from sensorwatch.runtime import class_archive
from sensorwatch.runtime.spark import SCORER_ENV, get_spark
from sensorwatch.services.process import cpu_seconds
from sensorwatch.sources.simulator import simulate
from tests.landing_seed import seed_landing, series_frame

END = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
IDLE_S = 70  # past Spark's idle-worker limit (60 s): what each cycle of predict --continuous meets


class PeakRss(threading.Thread):
    """Peak resident memory of the Spark driver JVM and of each Python worker, sampled from
    /proc while a stage runs (the daemon forks one worker per task slot), and the CPU seconds
    each kind of process spent meanwhile (the driver JVM, the Python workers, CrateDB, this
    process, the other services): where a cycle's two cores go."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, tuple[str, int]] = {}
        # CPU seconds per process over the stage: (kind, at the first sample, at the last)
        self.cpu: dict[int, tuple[str, float, float]] = {}
        self._halt = threading.Event()
        self._sweep(first=True)

    def run(self) -> None:
        while not self._halt.is_set():
            self._sweep()
            time.sleep(0.2)

    def _sweep(self, first: bool = False) -> None:
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                self._sample(int(pid), first)

    def _sample(self, pid: int, first: bool = False) -> None:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cpu_s = cpu_seconds(pid)
        except (OSError, IndexError):
            return  # the process ended meanwhile
        kind = "driver" if "SparkSubmit" in cmd else \
            "worker" if any(m in cmd for m in ("pyspark.daemon", "pyspark.worker", "worker_daemon")) else \
            "cratedb" if "io.crate" in cmd else "bench" if pid == os.getpid() else "other"
        if not cmd.strip() and pid in self.cpu:  # exiting (a zombie has no command line): as it was
            kind = self.cpu[pid][0]
        began = self.cpu[pid][1] if pid in self.cpu else (cpu_s if first else 0.0)  # a new process: all of it
        self.cpu[pid] = (kind, began, cpu_s)
        if kind not in ("driver", "worker"):
            return
        try:
            rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            return
        self.peaks[pid] = (kind, max(rss, self.peaks.get(pid, (kind, 0))[1]))

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        self._sweep()
        cpu: dict[str, float] = {}
        for kind, began, last in self.cpu.values():
            cpu[kind] = cpu.get(kind, 0.0) + last - began
        workers = [kb for kind, kb in self.peaks.values() if kind == "worker"]
        return {"driver_peak_mib": round(max((kb for kind, kb in self.peaks.values() if kind == "driver"),
                                             default=0) / 1024),
                "worker_peak_mib": round(max(workers, default=0) / 1024), "python_processes": len(workers),
                **{f"cpu_{kind}_s": round(s, 1) for kind, s in sorted(cpu.items())}}


def fleet(spark, base, scratch: Path, assets: int, seconds: int, tag: str):
    """Settings of a fresh landing zone and SQL schema holding ``assets`` pumps' events."""
    schema = f"bench_predict_{tag}"
    settings = base.with_overrides(storage={"root": f"{base.storage.root}/bench/predict-{scratch.name}-{tag}"},
                                   sql={"schema": schema}, model={"tracking_uri": str(scratch / "mlflow")},
                                   alerts={"topic": f"bench-anomalies-{scratch.name}-{tag}"},
                                   predict={"lateness_s": 0})  # the cycle ending at END: the data is all landed
    SqlStore(settings).drop_schema()  # a fresh schema: CrateDB makes it with its first table
    events = series_frame(simulate(assets, seconds, END - timedelta(seconds=seconds), seed=9, anomalies_per_asset=0))
    seed_landing(spark, settings, events)
    return settings, events


def cleanup(settings) -> None:
    webhdfs_client(settings).delete(hdfs_path(settings.storage.root), recursive=True)
    SqlStore(settings).drop_schema()


def timed_cycle(spark, settings, at: datetime = END) -> dict:
    sampler = PeakRss()
    sampler.start()
    t0 = time.monotonic()
    summary = run_predict(spark, settings, at=at)
    cycle_s = time.monotonic() - t0
    return {"cycle_s": round(cycle_s, 1), **{f"{k}_s": v for k, v in summary.details.seconds.items()},
            **{f"write_{k}_s": v for k, v in summary.details.write_split.items()},
            "intervals_scored": summary.rows_out, **sampler.stop()}


def with_scorer(spark, settings, scorer: str):
    """``settings`` for ``scorer``; the UDFs created from now on carry it in their environment
    (how ``get_spark`` passes ``predict.scorer`` to the worker daemon), so Spark starts a daemon for it."""
    spark.sparkContext.environment[SCORER_ENV] = scorer
    return settings.with_overrides(predict={"scorer": scorer})


def with_memo(settings, directory: Path | None):
    """``settings`` with the forward pass's memo in ``directory`` (None: off)."""
    return settings.with_overrides(predict={"memo_dir": str(directory) if directory else ""})


def end_to_end(settings, at: datetime = END, java_options: str = "", archive: bool = True,
               checkout: Path | None = None) -> tuple[float, dict]:
    """``sensorwatch submit predict --run --at at``: spark-submit to done, as a scheduled task
    (``java_options``: given to its JVMs, ``JAVA_TOOL_OPTIONS``; ``archive``: the driver maps
    the class archive of ``sensorwatch.runtime.class_archive``, where setup made one;
    ``checkout``: the command, its conf profile and its jobs from that checkout of another
    commit instead of this one, in this environment)."""
    env = {**os.environ, "SENSORWATCH__STORAGE__ROOT": settings.storage.root,
           "SENSORWATCH__SQL__SCHEMA": settings.sql.schema_,
           "SENSORWATCH__MODEL__TRACKING_URI": str(settings.model.tracking_uri),
           "SENSORWATCH__ALERTS__TOPIC": settings.alerts.topic,
           "SENSORWATCH__PREDICT__LATENESS_S": str(settings.predict.lateness_s),
           "SENSORWATCH__PREDICT__SCORER": settings.predict.scorer,
           "SENSORWATCH__PREDICT__MEMO_DIR": settings.predict.memo_dir,
           **({"JAVA_TOOL_OPTIONS": java_options} if java_options else {}),
           **({} if archive else {class_archive.SWITCH: "off"}),
           **({"PYTHONPATH": str(checkout)} if checkout else {})}
    sampler = PeakRss()
    sampler.start()
    began, started = datetime.now(UTC), time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sensorwatch.cli", "submit", "--run", "predict",
                           "--at", at.isoformat()], env=env, capture_output=True, text=True,
                          cwd=checkout or None)
    seconds = time.monotonic() - started
    cpu = {k: v for k, v in sampler.stop().items() if k.startswith("cpu_")}
    if done.returncode:
        raise RuntimeError(f"spark-submit failed:\n{done.stderr[-3000:]}")
    # Where the seconds went: before the job's run record (spark-submit, the JVM, the Spark
    # session, imports, the model), its stages, and after them (the commit, the shutdown).
    store = SqlStore(settings)
    run = store.query(f"SELECT started_at, duration_s, read_s, features_s, scoring_s, write_s, forecast_s "
                      f"FROM {store.name(PREDICTION_RUNS)} ORDER BY started_at DESC LIMIT 1")[0]
    start_up = (pd.Timestamp(run.started_at) - pd.Timestamp(began)).total_seconds()
    parts = {"start_up_s": round(start_up, 1), "run_s": run.duration_s,
             "after_s": round(seconds - start_up - run.duration_s, 1),
             **{k: getattr(run, k) for k in ("read_s", "features_s", "scoring_s", "write_s", "forecast_s")}, **cpu}
    return round(seconds, 1), parts


def previous_checkout(path: str) -> Path:
    """A checkout of an earlier commit (``git worktree add DIR COMMIT``) to run the scheduled
    run from; its ``.venv`` is linked to this checkout's (the same environment)."""
    checkout = Path(path).resolve()
    if not (checkout / "sensorwatch").is_dir():
        raise SystemExit(f"--previous {path}: not a checkout of this project")
    venv = checkout / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(__file__).resolve().parents[1] / ".venv")
    return checkout


def compare_submits(settings, other: dict, label: str, interval_s: int, rounds: int = 1) -> None:
    """The scheduled run as it is and as ``other`` (``end_to_end``'s arguments: JVM options,
    no class archive, or an earlier commit's checkout) changes it, alternating on consecutive
    new intervals (``2 * rounds`` of them, after an untimed first run that fills the memo, as
    the schedule's runs find it; the first of each pair alternates), then each on the other's
    interval (a replay). The last line is JSON."""
    cycle = timedelta(seconds=interval_s)
    ats = [END - (2 * rounds - 1 - i) * cycle for i in range(2 * rounds)]
    primed, _ = end_to_end(settings, END - 2 * rounds * cycle)
    print(f"submit, untimed first run (the memo filled): {primed:.1f} s", flush=True)
    runs = {}
    for k in range(rounds):
        pair = [("now", {}), (label, other)] if k % 2 == 0 else [(label, other), ("now", {})]
        for (name, kwargs), at in zip(pair, ats[2 * k:2 * k + 2], strict=True):
            runs[f"{name}, new {k + 1}"] = end_to_end(settings, at, **kwargs)
        for (name, kwargs), at in zip(pair, reversed(ats[2 * k:2 * k + 2]), strict=True):
            runs[f"{name}, replay {k + 1}"] = end_to_end(settings, at, **kwargs)
        for key in [key for key in runs if key.endswith(f" {k + 1}")]:
            print(f"submit, {key}: {runs[key][0]:.1f} s {runs[key][1]}", flush=True)
    print(json.dumps({"compared": label, **{key: {"submit_s": s, **parts} for key, (s, parts) in runs.items()},
                      **{f"submit_s_{name}": sorted(s for key, (s, _) in runs.items() if key.startswith(f"{name}, new"))
                         for name in ("now", label)}}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--scaling", default="250,1000,2000,4000",
                        help="fleet sizes for the scaling figures (empty: skip)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--scorers", default="onnx,tensorflow", help="predict.scorer values, side by side")
    parser.add_argument("--memo", default="on", help="the forward pass's memo: on, off, or both in turn (on,off); "
                                                      "previous: off and the scheduled runs without the class archive")
    parser.add_argument("--submit-jvm", default="",
                        help="only the scheduled run, with and without these JVM options (-XX:TieredStopAtLevel=1; "
                             "no-archive: without the driver's class archive)")
    parser.add_argument("--previous", help="only the scheduled run, from this checkout and from DIR (a checkout of an "
                                           "earlier commit: git worktree add DIR COMMIT), alternating")
    parser.add_argument("--rounds", type=int, default=1, help="--submit-jvm, --previous: how many pairs")
    args = parser.parse_args()
    scorers = [s for s in args.scorers.split(",") if s]
    # "previous": the path before 2026-12-07, no memo and the scheduled runs without the class archive
    kinds = [m for m in args.memo.split(",") if m in ("on", "off", "previous")]
    memos = [m == "on" for m in kinds]
    variants = [(s, m == "on", m != "previous", s if len(kinds) == 1 else f"{s}, memo {m}")
                for s in scorers for m in kinds]
    base = load_settings("local")
    services.up(base)
    scratch = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    spec, fspec = base.model.spec(), base.features.spec()
    interval_s = base.predict.interval_s
    # Four cycles ending at END; the scheduled runs' comparisons need 2 x rounds + 1.
    cycles = max(4, 2 * args.rounds + 1) if args.submit_jvm or args.previous else 4
    seconds = cycles * interval_s + spec.lookback_rows + fspec.lookback_s + 1
    spark = get_spark(base, "bench-predict", model_runtime=True)  # as the predict job

    # -- setup (untimed): events in the landing zone, a champion ---------------------------
    settings, events = fleet(spark, base, scratch, args.assets, seconds, "main")
    # Training: 8 of the pumps over 25 minutes before the cycle's data (the short forecasts'
    # profiles need 20 minutes; the other pumps use the fleet calibration).
    train = series_frame(simulate(8, 1500, END - timedelta(seconds=seconds + 1500), seed=5, anomalies_per_asset=0))
    naive = train.assign(event_time=train["event_time"].dt.tz_localize(None))
    few = features_frame(naive, fspec)
    detector = Detector.fit({a: g.reset_index(drop=True) for a, g in few.groupby("asset_id")},
                            replace(spec, epochs=args.epochs, patience=args.epochs + 1))
    registry.client(settings.model)
    with mlflow.start_run(experiment_id=registry.experiment_id(settings.model)):
        version = registry.log_detector(settings.model, detector, few.head(spec.window + 5), scratch)
    registry.promote(settings.model, version)
    print(f"setup: {len(events):,d} events of {args.assets} assets ({seconds} s each) in the landing zone; "
          f"champion v{version} ({detector.training['device']})")

    if args.submit_jvm or args.previous:  # only the scheduled run, as it is and changed, alternating
        scheduled = with_memo(with_scorer(spark, settings, scorers[0]), scratch / "memo" if memos[0] else None)
        if args.previous:
            compare_submits(scheduled, {"checkout": previous_checkout(args.previous)}, "previous", interval_s,
                            args.rounds)
        else:
            other = {"archive": False} if args.submit_jvm == "no-archive" else {"java_options": args.submit_jvm}
            compare_submits(scheduled, other, "options", interval_s, args.rounds)
        cleanup(settings)
        return

    # -- the cycles and the scheduled run, each scorer (and memo) in turn ----------------------
    by_scorer = {}
    for k, (scorer, memo, archive, label) in enumerate(variants):
        scored = with_memo(with_scorer(spark, settings, scorer), scratch / f"memo-{k}" if memo else None)
        # A variant after the first writes into a schema of its own: its cycles insert new rows, as the first's do.
        scored = scored.with_overrides(sql={"schema": f"{settings.sql.schema_}_{k}"}) if k else scored
        cycle = timedelta(seconds=interval_s)
        first = timed_cycle(spark, scored, END - 3 * cycle)  # this scorer's first: its daemon and workers start
        print(f"[{label}] cycle: {first['intervals_scored']:,d} intervals scored for {args.assets} assets in "
              f"{first['cycle_s']:.1f} s (interval {interval_s} s): {first}", flush=True)
        warm = timed_cycle(spark, scored, END - 2 * cycle)  # the next cycle: new intervals, workers up, model loaded
        print(f"[{label}] warm cycle (the next interval; workers up, model loaded): {warm}", flush=True)
        time.sleep(IDLE_S)  # Spark ends Python workers idle for a minute: a continuous cycle gets new ones
        after_idle = timed_cycle(spark, scored, END - cycle)
        print(f"[{label}] the next cycle after {IDLE_S} s idle (new workers forked from the daemon): {after_idle}",
              flush=True)
        replay = timed_cycle(spark, scored, END - cycle)  # the same interval again: every row rewritten (an update)
        print(f"[{label}] replay of the last cycle (its rows updated): {replay}", flush=True)
        e2e, e2e_parts = end_to_end(scored, archive=archive)  # the interval after the last: the next scheduled run's
        print(f"[{label}] end to end (spark-submit of the predict job to done; the next interval): {e2e:.1f} s "
              f"{e2e_parts}", flush=True)
        e2e_replay, replay_parts = end_to_end(scored, archive=archive)
        print(f"[{label}] end to end, a replay of it: {e2e_replay:.1f} s {replay_parts}", flush=True)
        by_scorer[label] = {"first": first, "warm": warm, "after_idle": after_idle, "replay": replay,
                             "submit_s": e2e, "submit_replay_s": e2e_replay, "submit": e2e_parts,
                             "submit_replay": replay_parts, "cycle_s": warm["cycle_s"],
                             "cycle_share": round(warm["cycle_s"] / interval_s, 3),
                             "worker_rss_mib": max(c["worker_peak_mib"] for c in (first, warm, after_idle, replay))}
    for k in range(1, len(variants)):
        SqlStore(settings.with_overrides(sql={"schema": f"{settings.sql.schema_}_{k}"})).drop_schema()
    chosen = by_scorer[variants[0][3]]
    first, warm, after_idle, e2e = chosen["first"], chosen["warm"], chosen["after_idle"], chosen["submit_s"]
    settings = with_scorer(spark, settings, scorers[0])

    # -- scaling: warm cycles for each fleet size -------------------------------------------
    scaling = {}
    for n in [int(x) for x in args.scaling.split(",") if x]:
        sized, _ = fleet(spark, base, scratch, n, seconds, str(n))
        scaling[n] = timed_cycle(spark, sized)
        print(f"scaling: {n} assets: {scaling[n]}", flush=True)
        cleanup(sized)
    quads = [(n, 4 * n) for n in scaling if 4 * n in scaling]
    ratio = round(scaling[quads[-1][1]]["cycle_s"] / scaling[quads[-1][0]]["cycle_s"], 2) if quads else None

    # -- UDF vs direct on the same feature rows ---------------------------------------------
    grid = Grid.for_range(END - timedelta(seconds=interval_s), END, fspec.interval_s, spec.lookback_rows)
    landing = events_for(read_landing(spark, settings), [Span(None, grid.start, grid.end)], fspec)
    rows = compute_features(landing, fspec).cache()
    n_rows = rows.count()
    spark.conf.set(ARROW_BATCH_CONF, str(settings.predict.arrow_batch_rows))
    shipped = registry.load(settings.model).scored_with(scorers[0]).shipped()
    detector = detector.with_scorer(scorers[0])

    def udf_pass() -> float:
        started = time.monotonic()
        score_features(rows, shipped, spec.columns, grid).write.format("noop").mode("overwrite").save()
        return time.monotonic() - started

    cold = udf_pass()
    udf_s = min(udf_pass(), udf_pass())
    local = rows.toPandas()
    score_frame(detector, local.head(2000), grid)  # start the predictor first (the UDF's workers did)
    started = time.monotonic()
    direct = score_frame(detector, local, grid)
    direct_s = time.monotonic() - started
    windows = args.assets * (len(grid.index()) - spec.window)
    result = {
        "assets": args.assets, "interval_s": interval_s, "scorer": scorers[0], "memo": memos[0],
        "cycle_s": warm["cycle_s"],
        "cycle_share": chosen["cycle_share"], "worker_rss_mib": chosen["worker_rss_mib"], "submit_s": e2e,
        "submit_replay_s": chosen["submit_replay_s"], "submit": chosen["submit"],
        "first_cycle_s": first["cycle_s"], "first": first, "warm_cycle_s": warm["cycle_s"], "warm": warm,
        "after_idle_cycle_s": after_idle["cycle_s"], "after_idle": after_idle,
        "replay_cycle_s": chosen["replay"]["cycle_s"], "replay": chosen["replay"],
        "end_to_end_s": e2e, "scaling_ratio_4x": ratio, "scaling": scaling,
        "feature_rows": n_rows, "windows": windows,
        "udf_s": round(udf_s, 2), "udf_cold_s": round(cold, 2), "direct_s": round(direct_s, 2),
        "udf_windows_per_s": round(windows / udf_s), "direct_windows_per_s": round(windows / direct_s),
        "udf_vs_direct": round(direct_s / udf_s, 2), "rows_direct": len(direct), "events": len(events),
        "arrow_batch_rows": settings.predict.arrow_batch_rows, "spark_master": settings.spark.master,
        "scorers": {s: {k: v for k, v in r.items() if k not in ("first", "warm", "after_idle", "replay")} | {
            "first_cycle_s": r["first"]["cycle_s"], "after_idle_cycle_s": r["after_idle"]["cycle_s"],
            "replay_cycle_s": r["replay"]["cycle_s"],
            "warm_stages": {k: v for k, v in r["warm"].items() if k.endswith("_s")}} for s, r in by_scorer.items()},
    }
    print(f"scoring {windows:,d} windows: pandas UDF {udf_s:.1f} s warm ({cold:.1f} s cold, model load included), "
          f"in-process {direct_s:.1f} s -> udf_vs_direct {result['udf_vs_direct']}")
    cleanup(settings)  # a fresh landing zone each run
    print(json.dumps(result))


if __name__ == "__main__":
    main()
