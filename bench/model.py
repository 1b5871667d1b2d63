"""Model benchmark (not a test): training seconds per epoch and inference windows/s.

    .venv/bin/python bench/model.py [--assets 8] [--windows 200000]

Training: the configured detector (conf `model.detector`) on the first 400 rows of
``--assets`` SKAB files (one asset per file, the production feature code), a fixed
number of epochs (no early stopping), on the device TensorFlow sees.
Inference: the trained LSTM on ``--windows`` windows, directly (no Spark): the
detector's XLA predictor at batch sizes 1k and 10k, and Keras ``model.predict`` at its
default batch (32) for reference. The last line is one JSON object with ``windows_per_s``
(the predictor at batch 10k) and the other figures.
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

from features.compute import features_frame
from models.detector import Detector
from models.network import Predictor
from sensorwatch.config import load_settings
from sensorwatch.pipeline.evaluation import TRAIN_ROWS, events_of
from sensorwatch.sources import skab


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=8)
    parser.add_argument("--windows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings("local")
    # Fixed epochs: patience beyond the epoch count, so every run trains the same amount.
    spec = replace(settings.model.spec(), epochs=args.epochs, patience=args.epochs + 1)
    data_dir = skab.default_data_dir()
    paths = [p for p in skab.list_files(data_dir) if "anomaly-free" not in str(p)][: args.assets]
    frames = {}
    for path in paths:
        f = skab.read_file(path, data_dir)
        rows = features_frame(events_of(f), settings.features.spec()).sort_values("interval_start")
        frames[f.asset_id] = rows.head(TRAIN_ROWS).reset_index(drop=True)

    started = time.perf_counter()
    detector = Detector.fit(frames, spec)
    train_s = time.perf_counter() - started
    t = detector.training
    print(f"training: {len(frames)} assets, {t['windows_fit']} windows, {t['epochs']} epochs on {t['device']}: "
          f"{train_s:.1f} s ({train_s / t['epochs']:.2f} s/epoch incl. calibration)")

    rng = np.random.default_rng(0)
    windows = rng.normal(size=(args.windows, spec.window, len(spec.columns))).astype(np.float32)
    predictor = Predictor(detector.network())
    figures = {}
    for batch in (1_000, 10_000):
        predictor(windows[:batch], batch)  # compile this batch shape (untimed)
        started = time.perf_counter()
        predictor(windows, batch)
        figures[batch] = args.windows / (time.perf_counter() - started)
        print(f"inference, XLA predictor, batch {batch:>6,}: {figures[batch]:>9,.0f} windows/s")
    sample = windows[:20_000]
    detector.network().predict(sample[:64], verbose=0)
    started = time.perf_counter()
    detector.network().predict(sample, verbose=0)
    keras_default = len(sample) / (time.perf_counter() - started)
    print(f"inference, keras model.predict (batch 32): {keras_default:>9,.0f} windows/s")
    print(json.dumps({
        "device": t["device"], "train_s_per_epoch": round(train_s / t["epochs"], 3), "train_windows": t["windows_fit"],
        "window": spec.window, "units": spec.units, "windows_per_s": round(figures[10_000]),
        "windows_per_s_batch_1k": round(figures[1_000]), "keras_predict_windows_per_s": round(keras_default),
    }))


if __name__ == "__main__":
    main()
