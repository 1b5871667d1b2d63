"""``sensorwatch plot``: one asset's signals, anomaly score and threshold, and its detected
anomaly events against the true anomalies (the producers' ground truth files), as a PNG.
Everything is read back from the SQL store: what a BI user would see."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features.definitions import column
from models.plots import asset_plot
from schemas import ANOMALY_EVENTS, ANOMALY_SCORES, SENSOR_FEATURES, SENSOR_NAMES
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore


def most_severe_asset(store: SqlStore) -> str | None:
    """The asset of the most severe anomaly event, if there is one."""
    rows = store.query(f"SELECT asset_id FROM {store.name('v_anomaly_events')} ORDER BY severity DESC LIMIT 1")
    return rows[0][0] if rows else None


def true_anomalies(ground_truth_dir: Path, asset: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end] of each true anomaly of ``asset`` in the producers' ground truth files."""
    spans = []
    for path in sorted(ground_truth_dir.glob("*.json")):
        for a in json.loads(path.read_text()).get("anomalies", []):
            if a["asset_id"] == asset:
                spans.append((pd.Timestamp(a["start"]).tz_convert(None), pd.Timestamp(a["end"]).tz_convert(None)))
    return spans


def plot_asset(settings: Settings, out: Path, asset: str | None = None, start: datetime | None = None,
               end: datetime | None = None, store: SqlStore | None = None,
               truth_dir: Path | None = None) -> tuple[Path, dict]:
    """Write the plot of ``asset`` (default: the one with the most severe event) over
    [start, end) (default: all its scored intervals), with the true anomalies of the ground
    truth files in ``truth_dir`` (default: var/ground_truth). Returns the path and a summary."""
    store = store or SqlStore(settings)
    asset = asset or most_severe_asset(store)
    if asset is None:
        raise LookupError("no anomaly events yet: run `sensorwatch predict` first, or give --asset")
    where, params = "asset_id = %s", [asset]
    if start and end:
        where, params = where + " AND interval_start >= %s AND interval_start < %s", [asset, start, end]
    scores = _frame(store, ANOMALY_SCORES.name, ["interval_start", "score", "threshold"], where, params)
    if scores.empty:
        raise LookupError(f"no anomaly scores for '{asset}' in the range: run `sensorwatch predict` over it")
    first, last = scores.interval_start.min(), scores.interval_start.max()
    means = [column(s, "mean") for s in SENSOR_NAMES]
    signals = _frame(store, SENSOR_FEATURES.name, ["interval_start", *means],
                     "asset_id = %s AND interval_start >= %s AND interval_start <= %s", [asset, first, last])
    if signals.empty:
        raise LookupError(f"no features for '{asset}' in the range: run `sensorwatch features` over it")
    signals = signals.set_index("interval_start").astype(float)
    signals = ((signals - signals.mean()) / signals.std().replace(0, 1)).set_axis(SENSOR_NAMES, axis=1)
    events = _frame(store, ANOMALY_EVENTS.name, ["event_start", "event_end"], "asset_id = %s AND event_end > %s "
                    "AND event_start <= %s", [asset, first, last])
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


def _frame(store: SqlStore, table: str, columns: list[str], where: str, params: list) -> pd.DataFrame:
    rows = store.query(f"SELECT {store.column_list(columns)} FROM {store.name(table)} WHERE {where} "
                       f"ORDER BY 1", params)
    frame = pd.DataFrame(rows, columns=columns)
    for name in columns:  # times as naive UTC, whatever the driver returns
        if name.endswith(("_start", "_end", "_at")):
            frame[name] = pd.to_datetime(frame[name], utc=True).dt.tz_convert(None)
    return frame
