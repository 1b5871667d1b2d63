"""Phase 1 of the detector selection (docs/model-notes.md): train once per SKAB file and
model variant, keep what the scoring rules need, so that they can be compared offline.

    .venv/bin/python bench/skab_cache.py --variant w90 [--data DIR] [--out var/selection]

Per file it writes ``<out>/<variant>/<asset>.npz``: the forecast error per feature row and
sensor (the production ``Detector.column_errors_many``: absolute and signed), the model inputs, which rows
trained the model and which of them were its validation (calibration) rows, and, per
reading, the row it falls in and the labels (used only to score, by bench/skab_selection.py).
The last line is JSON (seconds, files).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import residuals
from models.spec import DetectorSpec
from schemas import SENSOR_NAMES
from schemas.features import FeatureSpec, column
from sensorwatch.pipeline.evaluation import fit_file
from sensorwatch.sources import skab

# Model variants: DetectorSpec overrides of the production defaults.
VARIANTS: dict[str, dict] = {
    "w90": {"window": 90},
    "w60": {"window": 60},
    "w90_rollstd": {"window": 90, "inputs": ("mean", "roll_std")},
}


def cache_file(f: skab.SkabFile, features: FeatureSpec, spec: DetectorSpec, path: Path) -> float:
    started = time.perf_counter()
    fitted = fit_file(f, features, spec)  # the evaluation's own first half
    rows, train, detector = fitted.rows, fitted.train, fitted.detector
    reading_ix, row_ix = fitted.reading_ix, fitted.row_ix
    column_err = detector.column_errors_many({f.asset_id: rows})[f.asset_id]
    err = residuals.per_sensor(column_err, len(SENSOR_NAMES))  # as the score reads them, before any baseline
    signed = column_err.reshape(len(column_err), len(SENSOR_NAMES), -1).mean(axis=2)
    n_windows = int(train.sum()) - spec.window
    n_val = max(1, int(round(n_windows * spec.validation_fraction)))
    frame = f.frame
    np.savez_compressed(
        path, sensor_err=err, signed_err=signed, row_ix=row_ix, reading_ix=reading_ix, n_train=int(train.sum()),
        n_val=n_val,
        window=spec.window,
        means=rows[[column(s, "mean") for s in SENSOR_NAMES]].to_numpy(np.float64),
        roll_std=rows[[column(s, "roll_std") for s in SENSOR_NAMES]].to_numpy(np.float64),
        anomaly=frame["anomaly"].to_numpy(np.int8), changepoint=frame["changepoint"].to_numpy(np.int8),
        times=frame.index.tz_localize(None).to_numpy().astype("datetime64[s]").astype(np.int64),
        epochs=detector.training["epochs"])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="w90")
    parser.add_argument("--data", default=str(skab.default_data_dir()))
    parser.add_argument("--out", default="var/selection")
    args = parser.parse_args()
    data = Path(args.data)
    spec = replace(DetectorSpec(), **VARIANTS[args.variant])
    out = Path(args.out) / args.variant
    out.mkdir(parents=True, exist_ok=True)
    total, done = 0.0, 0
    for path in skab.list_files(data):
        f = skab.read_file(path, data)
        if "anomaly" not in f.frame.columns:
            continue
        target = out / f"{f.asset_id}.npz"
        if target.exists():
            continue
        seconds = cache_file(f, FeatureSpec(), spec, target)
        total, done = total + seconds, done + 1
        print(f"{args.variant} {f.asset_id}: {seconds:.1f} s", flush=True)
    print(json.dumps({"variant": args.variant, "files": done, "seconds": round(total, 1)}))


if __name__ == "__main__":
    main()
