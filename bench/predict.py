"""Prediction benchmark (not a test): one prediction cycle for many assets, and the pandas
UDF's scoring throughput against in-process scoring of the same windows.

    .venv/bin/python bench/predict.py [--assets 1000] [--epochs 1]

Setup (untimed): ``--assets`` simulated pumps x 8 sensors at 1 Hz, covering one cycle
(``predict.interval_s``, 3 minutes) plus the lookback its windows need, seeded into a
fresh landing zone on HDFS; the configured detector (conf ``model.detector``: W=90,
LSTM(64)) trained for ``--epochs`` on a few of the pumps and registered as champion in a
scratch MLflow store (the weights do not change the cost of scoring).

Timed:
* the cycle: ``run_predict`` for the interval ending at T, as the schedule runs it, with
  its stages (read, features, scoring, write -- write includes the events update);
* UDF vs direct: the same feature rows scored (a) in Spark through ``mapInPandas`` (warm
  workers: the model loaded and compiled once per worker by a first pass) and (b) in this
  process with the same detector code, single-threaded Python calling the Keras model
  through the same XLA predictor. ``udf_vs_direct`` = UDF windows/s / direct windows/s.

The last line is one JSON object with ``cycle_s``, ``interval_s``, ``udf_vs_direct`` and the
stage seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mlflow

from features.compute import features_frame
from features.transforms import compute_features
from models import registry
from models.detector import Detector
from models.serving import Grid, score_frame
from models.transforms import score_features
from sensorwatch import services
from sensorwatch.config import load_settings
from sensorwatch.connectors.hdfs import hdfs_path, webhdfs_client
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.extract import Span, events_for, read_landing
from sensorwatch.predict_job import ARROW_BATCH_CONF, run_predict
from sensorwatch.sources.landing import seed_landing, series_frame
from sensorwatch.sources.simulator import simulate
from sensorwatch.spark import get_spark

END = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    base = load_settings("local")
    services.up(base)
    scratch = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    settings = base.with_overrides(storage={"root": f"{base.storage.root}/bench/predict-{scratch.name}"},
                                   sql={"schema": "bench_predict"}, model={"tracking_uri": str(scratch / "mlflow")})
    store = SqlStore(settings)
    store.execute('DROP SCHEMA IF EXISTS "bench_predict" CASCADE')
    store.execute('CREATE SCHEMA "bench_predict"')
    spec, fspec = settings.model.spec(), settings.features.spec()
    interval_s = settings.predict.interval_s
    seconds = interval_s + spec.lookback_rows + fspec.lookback_s + 1
    spark = get_spark(settings, "bench-predict")

    # -- setup (untimed): events in the landing zone, a champion ---------------------------
    events = series_frame(simulate(args.assets, seconds, END - timedelta(seconds=seconds), seed=9,
                                   anomalies_per_asset=0))
    seed_landing(spark, settings, events)
    naive = events.assign(event_time=events["event_time"].dt.tz_localize(None))
    few = features_frame(naive[naive.asset_id.isin(sorted(naive.asset_id.unique())[:8])], fspec)
    detector = Detector.fit({a: g.reset_index(drop=True) for a, g in few.groupby("asset_id")},
                            replace(spec, epochs=args.epochs, patience=args.epochs + 1))
    registry.client(settings.model)
    with mlflow.start_run(experiment_id=registry.experiment_id(settings.model)):
        version = registry.log_detector(settings.model, detector, few.head(spec.window + 5), scratch)
    registry.promote(settings.model, version)
    print(f"setup: {len(events):,d} events of {args.assets} assets ({seconds} s each) in the landing zone; "
          f"champion v{version} ({detector.training['device']})")

    # -- the cycle ---------------------------------------------------------------------------
    t0 = time.monotonic()
    summary = run_predict(spark, settings, at=END)
    cycle_s = time.monotonic() - t0
    stages = summary.details["seconds"]
    print(f"cycle: {summary.rows_out:,d} intervals scored for {args.assets} assets in {cycle_s:.1f} s "
          f"(interval {interval_s} s); stages {stages}")

    # -- UDF vs direct on the same feature rows ---------------------------------------------
    grid = Grid.for_range(END - timedelta(seconds=interval_s), END, fspec.interval_s, spec.lookback_rows)
    landing = events_for(read_landing(spark, settings), [Span(None, grid.start, grid.end)], fspec)
    rows = compute_features(landing, fspec).cache()
    n_rows = rows.count()
    spark.conf.set(ARROW_BATCH_CONF, str(settings.predict.arrow_batch_rows))
    ref = registry.load(settings.model).ref

    def udf_pass() -> float:
        started = time.monotonic()
        score_features(rows, ref, spec.columns, grid).write.format("noop").mode("overwrite").save()
        return time.monotonic() - started

    cold = udf_pass()
    udf_s = min(udf_pass(), udf_pass())
    local = rows.toPandas()
    score_frame(detector, local.head(2000), grid)  # compile the XLA predictor first (the UDF's workers did)
    started = time.monotonic()
    direct = score_frame(detector, local, grid)
    direct_s = time.monotonic() - started
    windows = args.assets * (len(grid.index()) - spec.window)
    result = {
        "assets": args.assets, "interval_s": interval_s, "cycle_s": round(cycle_s, 1),
        **{f"{k}_s": v for k, v in stages.items()}, "intervals_scored": summary.rows_out,
        "feature_rows": n_rows, "windows": windows,
        "udf_s": round(udf_s, 2), "udf_cold_s": round(cold, 2), "direct_s": round(direct_s, 2),
        "udf_windows_per_s": round(windows / udf_s), "direct_windows_per_s": round(windows / direct_s),
        "udf_vs_direct": round(direct_s / udf_s, 2), "rows_direct": len(direct), "events": len(events),
        "arrow_batch_rows": settings.predict.arrow_batch_rows, "spark_master": settings.spark.master,
    }
    print(f"scoring {windows:,d} windows: pandas UDF {udf_s:.1f} s warm ({cold:.1f} s cold, model load included), "
          f"in-process {direct_s:.1f} s -> udf_vs_direct {result['udf_vs_direct']}")
    webhdfs_client(settings).delete(hdfs_path(settings.storage.root), recursive=True)  # a fresh landing zone each run
    store.execute('DROP SCHEMA IF EXISTS "bench_predict" CASCADE')
    print(json.dumps(result))


if __name__ == "__main__":
    main()
