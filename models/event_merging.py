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
    ``newest``: each asset's newest scored interval (decides ``is_open``).
    Vectorised over all runs (a run per asset and exceedance)."""
    step = pd.Timedelta(seconds=interval_s)
    above = scores.loc[scores["exceeds"].astype(bool)].sort_values(["asset_id", "interval_start"], ignore_index=True)
    if above.empty:
        return _empty()
    asset = above["asset_id"].to_numpy()
    starts = ~above["after_exceeding"].astype("boolean").fillna(False).to_numpy(bool)
    starts[1:] |= asset[1:] != asset[:-1]
    starts[0] = True
    above["_run"] = np.cumsum(starts)
    runs = above.groupby("_run", sort=True)
    events = above.loc[runs["is_anomaly"].transform("any").to_numpy(bool)]
    if events.empty:
        return _empty()
    runs = events.groupby("_run", sort=True)
    first, last = runs.head(1).set_index("_run"), runs.tail(1).set_index("_run")
    peak = events.loc[runs["score"].idxmax().to_numpy()].set_index("_run")
    confirmed = events.loc[events["is_anomaly"].astype(bool)].groupby("_run")["interval_start"].first()
    start, end = first["interval_start"], last["interval_start"] + step
    newest_of = last["asset_id"].map(newest)
    sensors, shares = _ranked_sensors(events, last["top_sensors"].map(_len))
    out = pd.DataFrame({
        "asset_id": last["asset_id"], "event_start": start, "event_end": end, "confirmed_at": confirmed,
        "intervals": runs.size().astype(np.int64), "duration_s": (end - start).dt.total_seconds(),
        "is_open": newest_of.notna() & (last["interval_start"] >= newest_of),
        "peak_score": peak["score"].astype(np.float64), "peak_at": peak["interval_start"],
        "threshold": last["threshold"].astype(np.float64), "sensors": sensors, "sensor_shares": shares,
        "model_name": last["model_name"], "model_version": last["model_version"].astype(int),
        "run_id": last["run_id"], "day": start.dt.floor("D"),
    })
    return out.reset_index(drop=True)[ANOMALY_EVENTS.column_names]


def _ranked_sensors(rows: pd.DataFrame, keep: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per run (``_run``): its sensors ranked by their summed share of its rows' scores
    (ties by name), the first ``keep[run]`` of them, and their shares of the run's total."""
    pairs = pd.DataFrame({"_run": np.repeat(rows["_run"].to_numpy(), rows["top_sensors"].map(_len).to_numpy()),
                          "sensor": _flat(rows["top_sensors"]), "share": _flat(rows["top_contributions"], float)})
    summed = pairs.groupby(["_run", "sensor"], sort=False)["share"].sum().reset_index()
    total = summed.groupby("_run")["share"].transform("sum").replace(0.0, 1.0)
    summed = summed.assign(share=(summed["share"] / total).round(6), _order=-summed["share"])
    summed = summed.sort_values(["_run", "_order", "sensor"], kind="stable")
    summed = summed[summed.groupby("_run").cumcount().to_numpy() < summed["_run"].map(keep).to_numpy()]
    by_run = summed.groupby("_run", sort=True)
    empty = pd.Series([[] for _ in keep.index], index=keep.index, dtype=object)
    sensors = by_run["sensor"].agg(list).reindex(keep.index)
    shares = by_run["share"].agg(list).reindex(keep.index)
    return sensors.where(sensors.notna(), empty), shares.where(shares.notna(), empty)


def _len(values) -> int:
    return 0 if values is None else len(values)


def _flat(column: pd.Series, dtype=object) -> np.ndarray:
    parts = [np.asarray(v, dtype=dtype) for v in column if v is not None and len(v)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ANOMALY_EVENTS.column_names})
