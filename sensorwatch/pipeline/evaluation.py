"""The SKAB outlier-detection protocol, with the production feature, model and threshold code.

For every labelled file, independently: its first 400 rows train the detector (labels
unused), every later row is scored; all files' test rows are pooled and scored as binary
classification (F1, FAR, MAR: the outlier leaderboard), as changepoints (NAB with a 60 s
window to the right of each changepoint: the changepoint leaderboard) and as events
(``models.metrics``; the arithmetic is checked against SKAB's own evaluator, TSAD). Each
file is one asset: its readings go through
``features.compute`` exactly as landing events do, the detector is ``models.detector``,
and each reading takes the flag of the interval it falls in.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.compute import features_frame, interval_ix
from models.detector import Detector
from models.metrics import Scores, binary_scores, event_scores, nab_scores
from models.plots import asset_plot
from models.spec import DetectorSpec
from schemas import SENSOR_NAMES
from schemas.errors import UsageError
from schemas.features import FeatureSpec
from sensorwatch.sources import skab

TRAIN_ROWS = 400
# The published leaderboard (SKAB README, outlier detection, same protocol), for the table.
LEADERBOARD: tuple[tuple[str, float, float, float], ...] = (
    ("Conv-AE", 0.78, 13.55, 28.02), ("MSET", 0.78, 39.73, 14.13),
    ("T-squared+Q (PCA)", 0.76, 26.62, 24.92), ("LSTM-AE", 0.74, 29.96, 25.92),
    ("Vanilla LSTM", 0.54, 12.54, 59.53), ("Isolation forest", 0.29, 2.56, 82.89),
)
# The changepoint leaderboard's best (SKAB README, NAB standard profile, 60 s window).
NAB_LEADERBOARD: tuple[tuple[str, float], ...] = (("MSCRED", 32.42), ("Conv-AE", 23.61))
NAB_WINDOW_S = 60


@dataclass
class FileResult:
    name: str
    folder: str  # relative to the data folder: a SKAB folder (valve1), or an experiment kind
    truth: np.ndarray  # per test row
    flags: np.ndarray  # per test row
    times: np.ndarray  # per test row, seconds
    changepoints: np.ndarray  # per test row
    scores: Scores
    seconds: float
    device: str
    epochs: int


def events_of(f: skab.SkabFile) -> pd.DataFrame:
    """A SKAB file as landing-shaped events of one asset (naive UTC event times)."""
    events = pd.DataFrame({name: f.frame[name].to_numpy(float) for name in SENSOR_NAMES})
    events.insert(0, "event_time", f.frame.index.tz_convert("UTC").tz_localize(None))
    events.insert(0, "asset_id", f.asset_id)
    return events


@dataclass
class FittedFile:
    """One file through the protocol's first half: its feature rows, which reading falls in
    which row, the training rows (those of the first 400 readings) and the fitted detector."""

    rows: pd.DataFrame
    reading_ix: np.ndarray
    row_ix: np.ndarray
    train: np.ndarray
    detector: Detector


def fit_file(f: skab.SkabFile, features: FeatureSpec, spec: DetectorSpec) -> FittedFile:
    events = events_of(f)
    rows = features_frame(events, features).sort_values("interval_start", ignore_index=True)
    # Each reading belongs to one interval; the first 400 readings' intervals train.
    reading_ix = interval_ix(events["event_time"], features.interval_s)
    row_ix = interval_ix(rows["interval_start"], features.interval_s)
    train = row_ix <= reading_ix[TRAIN_ROWS - 1]
    detector = Detector.fit({f.asset_id: rows[train].reset_index(drop=True)}, spec)
    return FittedFile(rows, reading_ix, row_ix, train, detector)


def evaluate_file(f: skab.SkabFile, features: FeatureSpec, spec: DetectorSpec,
                  plot_dir: Path | None = None, folder: str = ".") -> FileResult:
    started = time.perf_counter()
    fitted = fit_file(f, features, spec)
    rows, reading_ix, row_ix, detector = fitted.rows, fitted.reading_ix, fitted.row_ix, fitted.detector
    scored = detector.score(f.asset_id, rows)
    flags = pd.Series(scored["in_event"].to_numpy(), index=row_ix).reindex(reading_ix).to_numpy(bool)
    truth = f.frame["anomaly"].to_numpy() > 0.5
    changepoints = f.frame["changepoint"].to_numpy() > 0.5 if "changepoint" in f.frame.columns \
        else np.zeros(len(truth), bool)
    seconds = (f.frame.index.tz_localize(None) - pd.Timestamp(0)).total_seconds().to_numpy()
    result = FileResult(
        f.asset_id, folder, truth[TRAIN_ROWS:], flags[TRAIN_ROWS:], seconds[TRAIN_ROWS:], changepoints[TRAIN_ROWS:],
        binary_scores(truth[TRAIN_ROWS:], flags[TRAIN_ROWS:]),
        time.perf_counter() - started, detector.training["device"], detector.training["epochs"])
    if plot_dir is not None:
        plot_file(f, rows, scored, truth, flags, plot_dir / f"{f.asset_id}.png")
    return result


def evaluate(data_dir: Path, features: FeatureSpec, spec: DetectorSpec, out_dir: Path,
             files: list[str] | None = None, progress=print) -> dict[str, Any]:
    """Run the protocol on every labelled CSV under ``data_dir``; write plots and
    ``summary.json`` to ``out_dir``; return the summary."""
    paths = skab.list_files(data_dir, files)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[FileResult] = []
    skipped = []
    for i, path in enumerate(paths, 1):
        f = skab.read_file(path, data_dir)
        if "anomaly" not in f.frame.columns:
            skipped.append(f.asset_id)  # e.g. anomaly-free.csv: nothing to score against
            continue
        if len(f.frame) <= TRAIN_ROWS + spec.window:
            raise UsageError(f"{path}: {len(f.frame)} rows; the protocol needs more than {TRAIN_ROWS + spec.window}")
        r = evaluate_file(f, features, spec, out_dir, path.parent.relative_to(data_dir).as_posix())
        results.append(r)
        progress(f"[{i}/{len(paths)}] {r.name:22s} F1 {r.scores.f1:.3f}  FAR {r.scores.far:5.1f}  "
                 f"MAR {r.scores.mar:5.1f}  ({r.seconds:.0f} s, {r.epochs} epochs, {r.device})")
    if not results:
        raise UsageError(f"no labelled SKAB files (with an 'anomaly' column) under {data_dir}")
    pooled = binary_scores(np.concatenate([r.truth for r in results]), np.concatenate([r.flags for r in results]))
    nab = nab_scores([r.times for r in results], [r.changepoints for r in results], [r.flags for r in results],
                     NAB_WINDOW_S)
    events = event_scores([r.truth for r in results], [r.flags for r in results])
    folders = per_folder(results)
    summary = {
        "protocol": f"SKAB outlier detection: fit on the first {TRAIN_ROWS} rows of each file, score the rest",
        "data": str(data_dir), "skipped_unlabelled": skipped, "detector": spec.to_dict(),
        "features": {"interval_s": features.interval_s, "rolling_intervals": features.rolling_intervals},
        "device": results[0].device, "seconds": round(sum(r.seconds for r in results), 1),
        "per_file": [{"file": r.name, **r.scores.as_dict(), "test_rows": r.scores.rows,
                      **event_scores([r.truth], [r.flags]).as_dict()} for r in results],
        "pooled": {**pooled.as_dict(), "test_rows": pooled.rows, "files": len(results),
                   **{f"nab_{k}": v for k, v in nab.items()}, **events.as_dict()},
        "per_folder": folders,
        "worst_folder": worst(folders),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def per_folder(results: list[FileResult]) -> dict[str, dict[str, Any]]:
    """Pooled figures per folder (a SKAB folder, or one kind of simulated experiment)."""
    out = {}
    for folder in sorted({r.folder for r in results}):
        rs = [r for r in results if r.folder == folder]
        truths, flags = [r.truth for r in rs], [r.flags for r in rs]
        out[folder] = {**binary_scores(np.concatenate(truths), np.concatenate(flags)).as_dict(), "files": len(rs),
                       **event_scores(truths, flags).as_dict()}
    return out


def worst(folders: dict[str, dict[str, Any]]) -> str:
    """The folder that fails most: the largest false-alarm rate, then the lowest F1."""
    return max(folders, key=lambda f: (folders[f]["far"], -folders[f]["f1"]))


def table(summary: dict[str, Any]) -> str:
    """Three tables: the outlier leaderboard (binary F1/FAR/MAR, best F1 first), the
    changepoint leaderboard (NAB) and this run's events."""
    p = summary["pooled"]
    this = "sensorwatch LSTM forecaster (this run)"
    rows = [(this, p["f1"], p["far"], p["mar"]), *LEADERBOARD]
    rows.sort(key=lambda r: -r[1])
    lines = ["Outlier detection (SKAB protocol, pooled test rows)",
             f"{'detector':40s} {'F1':>6s} {'FAR %':>7s} {'MAR %':>7s}", "-" * 63]
    lines += [f"{name:40s} {f1:6.3f} {far:7.2f} {mar:7.2f}" for name, f1, far, mar in rows]
    nab = [(this, p["nab_standard"], p["nab_low_fp"], p["nab_low_fn"]),
           *((name, standard, None, None) for name, standard in NAB_LEADERBOARD)]
    nab.sort(key=lambda r: -r[1])
    lines += ["", f"Changepoint detection (NAB, {NAB_WINDOW_S} s window right of each changepoint; "
                  "published: standard profile)",
              f"{'detector':40s} {'standard':>9s} {'LowFP':>7s} {'LowFN':>7s}", "-" * 66]
    lines += [f"{name:40s} {st:9.2f} {'' if fp is None else f'{fp:7.2f}':>7s} {'' if fn is None else f'{fn:7.2f}':>7s}"
              for name, st, fp, fn in nab]
    lines += ["", "Events (a run of anomalous rows; detected when any flagged row overlaps it)",
              f"{'events':>7s} {'detected':>9s} {'false events':>13s} {'precision':>10s} {'recall':>7s}", "-" * 50,
              f"{p['events']:7d} {p['detected']:9d} {p['false_events']:13d} {p['event_precision']:10.3f} "
              f"{p['event_recall']:7.3f}"]
    folders = summary.get("per_folder", {})
    if len(folders) > 1:
        lines += ["", "Per folder (worst: the largest FAR, then the lowest F1)",
                  f"{'folder':24s} {'files':>5s} {'F1':>6s} {'FAR %':>7s} {'MAR %':>7s} {'events':>7s} {'found':>6s} "
                  f"{'false':>6s}", "-" * 75]
        lines += [f"{name:24s} {f['files']:5d} {f['f1']:6.3f} {f['far']:7.2f} {f['mar']:7.2f} {f['events']:7d} "
                  f"{f['detected']:6d} {f['false_events']:6d}{'  <- worst' if name == summary['worst_folder'] else ''}"
                  for name, f in folders.items()]
    return "\n".join(lines)


def plot_file(f: skab.SkabFile, rows: pd.DataFrame, scored: pd.DataFrame, truth: np.ndarray,
              flags: np.ndarray, path: Path) -> None:
    """Signals (standardised on the training rows), score vs threshold, and detections
    after the training rows."""
    train = f.frame.iloc[:TRAIN_ROWS]
    signals = pd.DataFrame({name: (f.frame[name] - train[name].mean()) / (train[name].std() or 1.0)
                            for name in SENSOR_NAMES}).set_index(f.frame.index.tz_localize(None))
    test = np.arange(len(signals)) >= TRAIN_ROWS
    scores = pd.DataFrame({"time": rows["interval_start"], "score": scored["score"], "threshold": scored["threshold"]})
    asset_plot(signals, scores, truth & test, flags & test,
               f"{f.asset_id}: training = first {TRAIN_ROWS} rows (left of the dashed line)", path,
               divider=signals.index[TRAIN_ROWS])
