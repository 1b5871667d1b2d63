"""Anomaly events: consecutive exceeding intervals of an asset merged into one event.

An event is a run of scored intervals above the threshold that reached ``min_duration``
(it holds at least one ``is_anomaly`` row). A scored interval below the threshold ends the
run; an interval without data (no score row: SKAB skips a second every ~25 s) does not, as
it does not end the scorer's exceedance either (its score is smoothed over the gap). It starts at
its onset (the first exceeding interval), ends after its last exceeding interval, and is
open while it reaches the asset's newest scored interval. Its sensors are ranked by
their summed share of its scores. pandas only; the prediction job feeds it the stored
``anomaly_scores`` rows around what a run wrote, so events grow across runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas import ANOMALY_EVENTS


def merge_events(scores: pd.DataFrame, interval_s: int, newest: dict[str, pd.Timestamp]) -> pd.DataFrame:
    """``anomaly_scores`` rows above the threshold (any assets, any order), each with
    ``after_exceeding``: whether the asset's previous score row exceeded too (False or None
    where a run starts) -> ``anomaly_events`` rows.
    ``newest``: each asset's newest scored interval (decides ``is_open``)."""
    step = pd.Timedelta(seconds=interval_s)
    events = []
    above = scores.loc[scores["exceeds"].astype(bool)].sort_values(["asset_id", "interval_start"], ignore_index=True)
    for asset, rows in above.groupby("asset_id", sort=True):
        run_id = (~rows["after_exceeding"].astype("boolean").fillna(False).to_numpy(bool)).cumsum()
        for _, run in rows.groupby(run_id, sort=False):
            if run["is_anomaly"].any():
                events.append(_event(asset, run.reset_index(drop=True), step, newest.get(asset)))
    if not events:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ANOMALY_EVENTS.column_names})
    return pd.DataFrame(events)[ANOMALY_EVENTS.column_names]


def _event(asset: str, run: pd.DataFrame, step: pd.Timedelta, newest: pd.Timestamp | None) -> dict:
    peak = int(run["score"].to_numpy(np.float64).argmax())
    last = run.iloc[-1]
    shares: dict[str, float] = {}
    for sensors, values in zip(run["top_sensors"], run["top_contributions"]):
        for s, v in zip(sensors if sensors is not None else [], values if values is not None else []):
            shares[s] = shares.get(s, 0.0) + float(v)
    total = sum(shares.values()) or 1.0
    ranked = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))[: len(last["top_sensors"] or [])]
    start, end = run["interval_start"].iloc[0], last["interval_start"] + step
    return {
        "asset_id": asset, "event_start": start, "event_end": end,
        "confirmed_at": run.loc[run["is_anomaly"], "interval_start"].iloc[0],
        "intervals": len(run), "duration_s": (end - start).total_seconds(),
        "is_open": newest is not None and last["interval_start"] >= newest,
        "peak_score": float(run["score"].iloc[peak]), "peak_at": run["interval_start"].iloc[peak],
        "threshold": float(last["threshold"]),
        "sensors": [s for s, _ in ranked], "sensor_shares": [round(v / total, 6) for _, v in ranked],
        "model_name": last["model_name"], "model_version": int(last["model_version"]), "run_id": last["run_id"],
        "day": start.floor("D"),
    }
