"""The pipeline's commands: produce events, ingest them, compute features, train, predict,
and the runs they recorded. Each prints the job's summary as one JSON line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import UsageError
from schemas.time import TimeRange, parse_time
from sensorwatch.cli.command import CommandGroup, arg
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore

if TYPE_CHECKING:
    from models.registry import LoadedModel

COMMANDS = CommandGroup()
COMMANDS.group("produce", "produce sensor events into Kafka")


@COMMANDS.command(
    "produce simulate", "N simulated pumps x 8 sensors with injected anomalies",
    arg("--assets", type=int, default=20),
    arg("--seconds", type=int, default=3600, help="seconds of 1 Hz data per asset"),
    arg("--start", help="ISO time of the first reading (default: now - seconds)"),
    arg("--seed", type=int, default=7),
    arg("--anomalies", type=int, default=3, help="anomalies injected per asset"),
    arg("--anomaly-free-s", type=int, metavar="N",
        help="no anomalies in the first N seconds of each asset: a clean period to train on "
             "(default: the simulator's 10-minute warm-up)"),
    arg("--bad-events", type=int, default=0, help="malformed events mixed in (for quarantine)"),
    arg("--speedup", type=float, default=0.0,
        help="x real time; 0 = as fast as possible (1 with --start now: a live fleet)"),
    arg("--ground-truth", help="where to write the ground truth (default: var/ground_truth/...)"))
def produce_simulate(settings: Settings, *, assets: int, seconds: int, start: str | None, seed: int, anomalies: int,
                     anomaly_free_s: int | None, bad_events: int, speedup: float, ground_truth: str | None) -> int:
    from sensorwatch.sources import produce, simulator

    report = produce.simulate_to_kafka(
        settings, assets=assets, seconds=seconds, start=parse_time(start) if start else None, seed=seed,
        anomalies_per_asset=anomalies, bad_events=bad_events,
        warmup_s=simulator.WARMUP_S if anomaly_free_s is None else anomaly_free_s,
        ground_truth=Path(ground_truth) if ground_truth else None, speedup=speedup)
    print(json.dumps(report, default=str))
    return 0


@COMMANDS.command(
    "produce skab", "replay SKAB CSV files, one asset per file",
    arg("--data", help="SKAB-format folder (default: $SENSORWATCH_SKAB_DIR or ../shared/data/skab)"),
    arg("--files", nargs="*", help="CSV files relative to --data (default: all labelled files)"),
    arg("--speedup", type=float, default=0.0, help="x real time; 0 = as fast as possible"),
    arg("--start", help="shift each file to start at this ISO time (default: keep SKAB's times)"),
    arg("--ground-truth"))
def produce_skab(settings: Settings, *, data: str | None, files: list[str] | None, speedup: float,
                 start: str | None, ground_truth: str | None) -> int:
    from sensorwatch.sources import produce, skab

    report = produce.replay_skab_to_kafka(
        settings, data_dir=Path(data) if data else skab.default_data_dir(), files=files, speedup=speedup,
        start=parse_time(start) if start else None, ground_truth=Path(ground_truth) if ground_truth else None)
    print(json.dumps(report, default=str))
    return 0


@COMMANDS.command(
    "ingest", "Kafka -> validated Parquet on HDFS (+ quarantine)",
    arg("--trigger", choices=["availableNow", "processingTime"]),
    arg("--timeout", type=float, default=None, help="stop a processingTime stream after N seconds"))
def ingest(settings: Settings, *, trigger: str | None, timeout: float | None) -> int:
    from sensorwatch.pipeline.ingestion import run_ingest
    from sensorwatch.runtime.spark import get_spark

    if trigger:
        settings = settings.with_overrides(ingest={"trigger": trigger})
    record = run_ingest(get_spark(settings, "sensorwatch-ingest"), settings, timeout_s=timeout)
    print(json.dumps(record.to_json(), default=str), flush=True)
    return 0


@COMMANDS.command("landed", "what landed: events per partition, quarantine per reason")
def landed(settings: Settings) -> int:
    from sensorwatch.operations.landing_counts import landed_summary
    from sensorwatch.runtime.spark import get_spark

    summary = landed_summary(get_spark(settings, "sensorwatch-landed"), settings)
    print("landing zone (valid events) per partition:")
    for row in summary["landing"]:
        print(f"  date={row['date']}/hour={row['hour']:02d}  {row['events']:>9,d} events  {row['assets']:>4d} assets")
    print(f"  total {summary['landing_total']:,d}")
    print("quarantine per reason:")
    for row in summary["quarantine"]:
        print(f"  {row['events']:>9,d}  {row['reason']}")
    print(f"  total {summary['quarantine_total']:,d}")
    return 0


@COMMANDS.command(
    "features", "landing events -> sensor_features in the SQL store (upsert; incremental, or a backfill)",
    arg("--from", dest="start", help="backfill from this ISO time (inclusive)"),
    arg("--to", dest="end", help="backfill up to this ISO time (exclusive)"))
def features(settings: Settings, *, start: str | None, end: str | None) -> int:
    from sensorwatch.pipeline.featurization import run_features
    from sensorwatch.runtime.spark import get_spark

    span = TimeRange.optional(start, end)
    record = run_features(get_spark(settings, "sensorwatch-features"), settings, span)
    print(json.dumps(record.to_json(), default=str))
    return 0


@COMMANDS.command(
    "train", "sensor_features -> a new registered model version; champion if not worse",
    arg("--from", dest="start", help="ISO time (default: the newest model.train_hours of features)"),
    arg("--to", dest="end", help="ISO time, exclusive"),
    arg("--assets", nargs="+", help="only these assets (default: all in the range)"),
    arg("--challenger", action="store_true",
        help="register the new version as the challenger (scored beside the champion) instead of promoting it"))
def train(settings: Settings, *, start: str | None, end: str | None, assets: list[str] | None,
          challenger: bool) -> int:
    from sensorwatch.pipeline.training import run_train

    span = TimeRange.optional(start, end)
    print(json.dumps(run_train(settings, span, assets, challenger).to_json(), default=str))
    return 0


@COMMANDS.command(
    "predict", "score the newest intervals: anomaly_scores, anomaly_events, monitoring (SQL store)",
    arg("--at", help="ISO time: score the predict.interval_s before it (default: now)"),
    arg("--from", dest="start", help="backfill: score every interval from this ISO time ..."),
    arg("--to", dest="end", help="... up to this one (exclusive)"),
    arg("--continuous", action="store_true",
        help="one long-running job: a cycle every predict.interval_s (Structured Streaming trigger)"),
    arg("--timeout", type=float, help="with --continuous: stop after N seconds (default: never)"))
def predict(settings: Settings, *, at: str | None, start: str | None, end: str | None, continuous: bool,
            timeout: float | None) -> int:
    from sensorwatch.runtime.spark import get_spark, get_spark_while

    span, moment = TimeRange.optional(start, end), parse_time(at) if at else None
    if moment and span:
        raise UsageError("give --at, or --from and --to, not both")
    if continuous:
        from sensorwatch.pipeline.continuous import run_continuous

        if moment or span:
            raise UsageError("--continuous scores up to now, cycle after cycle: no --at or --from/--to")
        spark = get_spark(settings, "sensorwatch-predict", model_runtime=True)
        cycles = run_continuous(spark, settings, timeout_s=timeout)
        print(json.dumps({"cycles": len(cycles), "rows_out": sum(c.rows_out or 0 for c in cycles)}))
        return 0
    spark, champion = get_spark_while(lambda: _champion_ahead(settings), settings, "sensorwatch-predict",
                                      model_runtime=True)
    from sensorwatch.pipeline.prediction import run_predict

    record = run_predict(spark, settings, moment, span, champion)  # warnings: logged
    print(json.dumps(record.to_json(), default=str))
    return 0


def _champion_ahead(settings: Settings) -> LoadedModel | None:
    """The prediction run's modules and its champion, loaded while the JVM starts the session.
    None where the champion cannot be loaded: the run loads it again, inside its run record,
    and records why it failed (no champion, an unreadable model, the registry unreachable)."""
    import sensorwatch.pipeline.prediction  # noqa: F401  (pandas, MLflow, the models: ~2 s of imports)
    from models import registry

    try:
        return registry.load(settings.model)
    except Exception:  # noqa: BLE001  (raised again, and recorded, by the run's own load)
        return None


@COMMANDS.command(
    "forecast", "every sensor's long forecast: the next 24 hourly means with 80/95 % intervals (sensor_forecasts); "
    "the short one comes with every `predict`",
    arg("--at", help="ISO time: issue the forecasts of its hour (default: now)"))
def forecast(settings: Settings, *, at: str | None) -> int:
    from sensorwatch.pipeline.long_forecast import run_long_forecast
    from sensorwatch.runtime.spark import get_spark

    moment = parse_time(at) if at else None
    spark = get_spark(settings, "sensorwatch-forecast")
    print(json.dumps(run_long_forecast(spark, settings, moment).to_json(), default=str))
    return 0


@COMMANDS.command("runs", "the latest job runs recorded in the SQL store (job_runs)",
                  arg("--last", type=int, default=10))
def runs(settings: Settings, *, last: int) -> int:
    from sensorwatch.pipeline.runs import recent_runs

    print(f"{'started (UTC)':19s}  {'job':9s} {'status':9s} {'rows in':>9s} {'rows out':>9s} {'rejected':>8s} "
          f"{'late':>6s} {'seconds':>8s}  range / error")
    for r in recent_runs(SqlStore(settings), last):
        span = f"{r.range_start:%Y-%m-%d %H:%M:%S} .. {r.range_end:%H:%M:%S}" if r.range_start else ""
        print(f"{r.started_at:%Y-%m-%d %H:%M:%S}  {r.job:9s} {r.status:9s} {_n(r.rows_in):>9s} "
              f"{_n(r.rows_out):>9s} {_n(r.rows_rejected):>8s} {_n(r.late_rows):>6s} "
              f"{_n(r.duration_s):>8s}  {r.error or span}")
    return 0


def _n(value: float | int | None) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.1f}"
