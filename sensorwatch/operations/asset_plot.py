"""``sensorwatch plot``: one asset's signals, anomaly score and threshold, and its detected
anomaly events against the true anomalies (the producers' ground truth files), as a PNG.
Everything is read back from the SQL store: what a BI user would see."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from models.plots import asset_plot
from schemas import ANOMALY_SCORES, SENSOR_FEATURES, SENSOR_NAMES
from schemas.errors import DataError
from schemas.features import column
from schemas.time import TimeRange, naive_utc
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q


class NothingToPlot(DataError, LookupError):
    """No events, scores or features for the asset and range asked for."""


def most_severe_asset(store: SqlStore) -> str | None:
    """The asset of the most severe anomaly event, if there is one."""
    rows = store.query(q.top_events(store.target, 1))
    return rows[0].asset_id if rows else None


def true_anomalies(ground_truth_dir: Path, asset: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end] of each true anomaly of ``asset`` in the producers' ground truth files."""
    spans = []
    for path in sorted(ground_truth_dir.glob("*.json")):
        for a in json.loads(path.read_text()).get("anomalies", []):
            if a["asset_id"] == asset:
                spans.append((naive_utc(a["start"]), naive_utc(a["end"])))
    return spans


def plot_asset(settings: Settings, out: Path, asset: str | None = None, span: TimeRange | None = None,
               store: SqlStore | None = None, truth_dir: Path | None = None) -> tuple[Path, dict]:
    """Write the plot of ``asset`` (default: the one with the most severe event) over
    ``span`` (default: all its scored intervals), with the true anomalies of the ground
    truth files in ``truth_dir`` (default: var/ground_truth). Returns the path and a summary."""
    store = store or SqlStore(settings)
    asset = asset or most_severe_asset(store)
    if asset is None:
        raise NothingToPlot("no anomaly events yet: run `sensorwatch predict` first, or give --asset")
    names = ["interval_start", "score", "threshold"]
    scores = _frame(store, q.rows_between(store.target, ANOMALY_SCORES, names, span.start if span else None,
                                          span.end if span else None, [asset]), names)
    if scores.empty:
        raise NothingToPlot(f"no anomaly scores for '{asset}' in the range: run `sensorwatch predict` over it")
    first, last = scores.interval_start.min(), scores.interval_start.max()
    means = [column(s, "mean") for s in SENSOR_NAMES]
    names = ["interval_start", *means]
    signals = _frame(store, q.rows_between(store.target, SENSOR_FEATURES, names, first, last, [asset],
                                           inclusive_end=True), names)
    if signals.empty:
        raise NothingToPlot(f"no features for '{asset}' in the range: run `sensorwatch features` over it")
    signals = signals.set_index("interval_start").astype(float)
    signals = ((signals - signals.mean()) / signals.std().replace(0, 1)).set_axis(SENSOR_NAMES, axis=1)
    events = _frame(store, q.events_overlapping(store.target, asset, first, last), ["event_start", "event_end"])
    t = signals.index
    flags = np.zeros(len(t), bool)
    for s, e in events.itertuples(index=False):
        flags |= (t >= s) & (t < e)
    truth = np.zeros(len(t), bool)
    truth_dir = truth_dir or (settings.home / "ground_truth" if settings.services else None)
    spans = true_anomalies(truth_dir, asset) if truth_dir else []
    for s, e in spans:
        truth |= (t >= s) & (t <= e)
    shown = sum(s <= t[-1] and e >= t[0] for s, e in spans)  # true anomalies overlapping the plot
    title = f"{asset}: {len(events)} detected event(s), {shown} true"
    path = asset_plot(signals, scores.rename(columns={"interval_start": "time"}), truth, flags, title, out)
    detected = int((truth & flags).sum())
    return path, {"asset": asset, "intervals": len(t), "events": len(events), "true_intervals": int(truth.sum()),
                  "detected_true_intervals": detected, "false_alarm_intervals": int((flags & ~truth).sum())}


def _frame(store: SqlStore, statement: q.Statement, names: list[str]) -> pd.DataFrame:
    """A query's rows as a frame with these column names; times as naive UTC."""
    frame = pd.DataFrame(store.query(statement), columns=names)
    for name in names:
        if name.endswith(("_start", "_end", "_at")):
            frame[name] = naive_utc(frame[name])
    return frame
