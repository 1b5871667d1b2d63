"""Anomaly events: consecutive exceeding intervals of an asset merged into one event, and
an instrument's condition (``models.instrument``) into an instrument event.

An event is a run of scored intervals above the threshold that reached ``min_duration``
(it holds at least one ``is_anomaly`` row). A scored interval below the threshold ends the
run; an interval without data (no score row: SKAB skips a second every ~25 s) does not, as
it does not end the scorer's exceedance either (its score is smoothed over the gap). It starts at
its onset (the first exceeding interval), ends after its last exceeding interval, and is
open while it reaches the asset's newest scored interval. Its sensors are ranked by
their summed share of its scores. pandas only; the prediction job feeds it the stored
``anomaly_scores`` rows around what a run wrote, so events grow across runs.

Kinds (``classify``): the model's events are ``process``; the rows of one instrument
condition (one check on one sensor) make an ``instrument`` event from where it began. A
model event carried by one sensor (``CARRIED`` of its scores) is that instrument's fault:
the model forecasts every sensor from all of them, so one sensor alone leaving its
forecast is one instrument leaving the sensors it moves with (a process fault moves
several: a cavitating pump's events split their scores between the two accelerometers,
0.49-0.54 on both simulated fleets of bench/kinds.py, where every such drift was above
0.59). It becomes an instrument event: with the check of an instrument condition on that
sensor that overlaps it (the condition is not listed a second time), else ``deviation``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas import ANOMALY_EVENTS

PROCESS, INSTRUMENT = "process", "instrument"
CARRIED = 0.6  # a model event is carried by one sensor when that sensor holds this share of its scores
DEVIATION = "deviation"  # the check of a one-sensor model event that no instrument check names


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
        "kind": PROCESS, "instrument_check": None,
        "model_name": last["model_name"], "model_version": last["model_version"].astype(int),
        "run_id": last["run_id"], "day": start.dt.floor("D"),
    })
    return out.reset_index(drop=True)[ANOMALY_EVENTS.column_names]


def merge_conditions(rows: pd.DataFrame, interval_s: int, newest: dict[str, pd.Timestamp]) -> pd.DataFrame:
    """``anomaly_scores`` rows in an instrument condition (``instrument_check`` set; any
    assets, any order) -> ``anomaly_events`` rows of kind instrument: the rows of one check
    on one sensor whose conditions touch (each began at most one interval after the
    previous row) make one event, from the earliest ``instrument_since`` to the end of its
    last row; ``confirmed_at`` is its first flagged row."""
    step = pd.Timedelta(seconds=interval_s)
    if rows.empty:
        return _empty()
    rows = rows.sort_values(["asset_id", "instrument_check", "instrument_sensor", "interval_start"], ignore_index=True)
    same = (rows[["asset_id", "instrument_check", "instrument_sensor"]] ==
            rows[["asset_id", "instrument_check", "instrument_sensor"]].shift(1)).all(axis=1).to_numpy()
    touches = (rows["instrument_since"] <= rows["interval_start"].shift(1) + step).to_numpy()
    rows["_run"] = np.cumsum(~(same & touches))
    rows["_score"] = rows["score"].astype(np.float64).fillna(-np.inf)  # a run without scores: its first row
    runs = rows.groupby("_run", sort=True)
    first, last = runs.head(1).set_index("_run"), runs.tail(1).set_index("_run")
    start, end = runs["instrument_since"].min(), last["interval_start"] + step
    peak = rows.loc[runs["_score"].idxmax().to_numpy()].set_index("_run")
    newest_of = last["asset_id"].map(newest)
    out = pd.DataFrame({
        "asset_id": last["asset_id"], "event_start": start, "event_end": end, "confirmed_at": first["interval_start"],
        "intervals": ((end - start) / step).astype(np.int64), "duration_s": (end - start).dt.total_seconds(),
        "is_open": newest_of.notna() & (last["interval_start"] >= newest_of),
        "peak_score": peak["score"].astype(np.float64).fillna(0.0), "peak_at": peak["interval_start"],
        "threshold": last["threshold"].astype(np.float64),
        "sensors": last["instrument_sensor"].map(lambda s: [s]), "sensor_shares": [[1.0]] * len(last),
        "kind": INSTRUMENT, "instrument_check": last["instrument_check"],
        "model_name": last["model_name"], "model_version": last["model_version"].astype(int),
        "run_id": last["run_id"], "day": start.dt.floor("D"),
    })
    return out.reset_index(drop=True)[ANOMALY_EVENTS.column_names]


def classify(process: pd.DataFrame, conditions: pd.DataFrame) -> pd.DataFrame:
    """The model's events and the instrument events (``merge_events``, ``merge_conditions``)
    -> one table of events, each with its kind: a model event carried by one sensor is an
    instrument's, with the check of an instrument event on that sensor that overlaps it
    (that event is not listed again), else ``DEVIATION``; an instrument event starting
    where a model event of the asset starts is dropped (one event per key)."""
    if process.empty:
        return conditions if len(conditions) else process
    process, absorbed = process.copy(), set()
    for i, event in process.iterrows():
        shares = event["sensor_shares"]
        if shares is None or not len(shares) or shares[0] < CARRIED:
            continue
        process.at[i, "kind"], process.at[i, "instrument_check"] = INSTRUMENT, DEVIATION
        if conditions.empty:
            continue
        on_it = conditions[(conditions["asset_id"] == event["asset_id"])
                           & conditions["sensors"].map(lambda s, top=event["sensors"][0]: list(s) == [top])
                           & (conditions["event_start"] < event["event_end"])
                           & (conditions["event_end"] > event["event_start"])]
        if len(on_it):
            process.at[i, "instrument_check"] = on_it["instrument_check"].iloc[0]
            absorbed |= set(on_it.index)
    if conditions.empty:
        return process
    starts = set(zip(process["asset_id"], process["event_start"]))
    kept = conditions.drop(index=list(absorbed))
    kept = kept[[(a, t) not in starts for a, t in zip(kept["asset_id"], kept["event_start"])]]
    return pd.concat([process, kept], ignore_index=True)


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
