"""The LSTM's forward pass, ONNX Runtime against TensorFlow side by side (not a test; no services).

    .venv/bin/python bench/scorers.py [--windows 40000] [--epochs 1]

Setup (untimed): the configured detector (conf ``model.detector``: W=60, LSTM(64)) trained
for ``--epochs`` on 8 simulated pumps and saved with both forms (``model.keras``, ``model.onnx``).

Each scorer then runs in a fresh Python process, as a Spark worker would:
* cold start: from the first import to the first forecast (imports, reading the model,
  the first call: TensorFlow's XLA compilation, ONNX Runtime's session);
* windows/s on ``--windows`` windows of the model's shape, warm, with 1 thread (a Spark
  worker per core) and with 2 (the whole machine);
* the process's resident memory after scoring (VmRSS) and its peak (VmHWM; ``ru_maxrss``
  would be this process's: Linux keeps it across the child's exec);
* the floating-point work per window (the LSTM's and the Dense layer's multiply-adds, two
  operations each; the gates' activations not counted) against what a core does in a
  large float32 matrix product (numpy's BLAS, 1 thread): the ratio achieved.
And the scores of 24 simulated pumps (3 minutes each) by both, compared: the largest
difference of a forecast and of a score.

The last line is JSON: per scorer ``cold_start_s``, ``windows_per_s_1_thread``,
``windows_per_s_2_threads``, ``rss_mib``; ``flops_per_window``, ``gemm_gflops_1_core``,
``flop_ratio`` (the chosen scorer's 1-thread rate over the core's matrix-product rate),
``max_score_diff``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCORERS = ("onnx", "tensorflow")
END = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
CHILD = """
import json, sys, time
t0 = time.monotonic()
sys.path.insert(0, {repo!r})
import numpy as np
from pathlib import Path
from models.detector import Detector
detector = Detector.load(Path({model!r})).with_scorer({scorer!r})
spec = detector.spec
x = np.random.default_rng(0).normal(0, 1, ({windows}, spec.window, len(spec.columns))).astype(np.float32)
detector._predict(x[:1])
cold = time.monotonic() - t0
detector._predict(x[:2000])
t = time.monotonic(); detector._predict(x); rate = len(x) / (time.monotonic() - t)
a = np.random.default_rng(1).normal(0, 1, (1024, 1024)).astype(np.float32)
a @ a
t = time.monotonic(); reps = 20
for _ in range(reps):
    a @ a
gemm = reps * 2 * 1024 ** 3 / (time.monotonic() - t) / 1e9
status = {{l.split(":")[0]: int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("Vm")}}
print(json.dumps({{"cold_start_s": round(cold, 2), "windows_per_s": round(rate), "rss_mib": round(status["VmRSS"]),
                  "peak_rss_mib": round(status["VmHWM"]), "gemm_gflops": round(gemm, 1)}}))
"""


def child(model: Path, scorer: str, windows: int, threads: int) -> dict:
    """One scorer in a fresh process with ``threads`` threads (its runtime's and BLAS's)."""
    env = {**os.environ, "SENSORWATCH_ONNX_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
           "TF_NUM_INTEROP_THREADS": "1", "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = CHILD.format(repo=str(Path(__file__).resolve().parents[1]), model=str(model), scorer=scorer,
                        windows=windows)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{scorer} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def flops_per_window(window: int, features: int, units: int, outputs: int) -> int:
    """Multiply-adds of one forecast, two operations each: per step the four gates' input and
    recurrent products; then the Dense layer."""
    return window * 2 * (features + units) * 4 * units + 2 * units * outputs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--windows", type=int, default=40_000)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    import numpy as np

    from features.compute import features_frame
    from models.detector import Detector
    from models.serving import Grid, score_frame
    from sensorwatch.config import load_settings
    from sensorwatch.sources.simulator import simulate
    from tests.landing_seed import series_frame

    base = load_settings("local")
    spec, fspec = base.model.spec(), base.features.spec()

    def feature_rows(assets: int, seconds: int, start: datetime, seed: int):
        events = series_frame(simulate(assets, seconds, start, seed=seed, anomalies_per_asset=0))
        return features_frame(events.assign(event_time=events["event_time"].dt.tz_localize(None)), fspec)

    train = feature_rows(8, 1500, END - timedelta(seconds=3000), 5)
    detector = Detector.fit({a: g.reset_index(drop=True) for a, g in train.groupby("asset_id")},
                            replace(spec, epochs=args.epochs, patience=args.epochs + 1))
    model = detector.save(Path(tempfile.mkdtemp(prefix="bench-scorers-")))
    print(f"setup: detector W={spec.window}, LSTM({spec.units}), {len(spec.columns)} inputs, trained "
          f"{detector.training['epochs']} epoch(s); saved with model.keras and model.onnx", flush=True)

    results: dict[str, dict] = {}
    for scorer in SCORERS:
        one, two = child(model, scorer, args.windows, 1), child(model, scorer, args.windows, 2)
        results[scorer] = {"cold_start_s": one["cold_start_s"], "windows_per_s_1_thread": one["windows_per_s"],
                           "windows_per_s_2_threads": two["windows_per_s"], "rss_mib": one["rss_mib"],
                           "peak_rss_mib": one["peak_rss_mib"], "gemm_gflops_1_core": one["gemm_gflops"]}
        print(f"{scorer}: {results[scorer]}", flush=True)

    # The same rows scored by both, in this process.
    seconds = base.predict.interval_s + spec.lookback_rows + fspec.lookback_s + 1
    rows = feature_rows(24, seconds, END - timedelta(seconds=seconds), 9)
    grid = Grid.for_range(END - timedelta(seconds=base.predict.interval_s), END, fspec.interval_s, spec.lookback_rows)
    by = {s: score_frame(Detector.load(model).with_scorer(s), rows, grid) for s in SCORERS}
    both = by["onnx"]["score"].notna() & by["tensorflow"]["score"].notna()
    score_diff = float(np.max(np.abs(by["onnx"]["score"][both] - by["tensorflow"]["score"][both])))
    flags_equal = bool((by["onnx"]["is_anomaly"] == by["tensorflow"]["is_anomaly"]).all())
    rng = np.random.default_rng(4)
    windows = rng.normal(0, 1, (5000, spec.window, len(spec.columns))).astype(np.float32)
    forecasts = {s: Detector.load(model).with_scorer(s)._predict(windows) for s in SCORERS}
    forecast_diff = float(np.max(np.abs(forecasts["onnx"] - forecasts["tensorflow"])))
    print(f"same windows: largest forecast difference {forecast_diff:.2e}; same rows ({int(both.sum())} scores): "
          f"largest score difference {score_diff:.2e} (score scale: threshold "
          f"{detector.calibration('*').threshold:.2f}), anomaly flags equal: {flags_equal}")

    flops = flops_per_window(spec.window, len(spec.columns), spec.units, len(spec.columns))
    gemm = results["onnx"]["gemm_gflops_1_core"]
    table = {}
    for scorer, r in results.items():
        achieved = r["windows_per_s_1_thread"] * flops / 1e9
        table[scorer] = round(achieved / gemm, 3)
        print(f"{scorer}: {r['windows_per_s_1_thread']:,d} windows/s on one core = {achieved:.1f} GFLOP/s "
              f"of the core's {gemm:.1f} in a large matrix product: {table[scorer]:.2f}")
    print(f"flops per window: {flops:,d} (LSTM {spec.window} steps x 2 x ({len(spec.columns)}+{spec.units}) x "
          f"4 x {spec.units}, Dense 2 x {spec.units} x {len(spec.columns)}); "
          f"2 cores at that rate: {2 * gemm * 1e9 / flops:,.0f} windows/s")
    print(json.dumps({"scorers": results, "flops_per_window": flops, "gemm_gflops_1_core": gemm,
                      "flop_ratio": table["onnx"], "flop_ratio_tensorflow": table["tensorflow"],
                      "windows_per_s_ceiling_2_cores": round(2 * gemm * 1e9 / flops),
                      "max_forecast_diff": forecast_diff, "max_score_diff": score_diff,
                      "anomaly_flags_equal": flags_equal, "windows": args.windows}))


if __name__ == "__main__":
    main()
