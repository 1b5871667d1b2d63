"""Alerts from anomaly events: which event deserves a message now (pandas only).

An event's alert state is its status (``open`` while it reaches the newest scored
interval, else ``closed``) and its severity level (how many of the configured levels its
severity, peak score / threshold, has reached), and its kind (process or instrument). A
message is due when that state differs from the one last published for the event: when it
opens, crosses a level, closes (or opens again after late events), or is found to be an
instrument's fault. An unchanged event is never announced twice, whichever
run or backfill looks at it. The same holds for ``predicted_limit`` alerts (``limits_due``):
a sensor whose forecast may pass an operating limit. ``sensorwatch.operations.alerts``
publishes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from schemas import ANOMALY_ALERTS, LIMIT_ALERTS
from schemas.time import naive_utc

MESSAGE_COLUMNS = [c for c in ANOMALY_ALERTS.column_names if c != "published_at"]


def event_id(asset_id: str, event_start: pd.Timestamp) -> str:
    """The alert's key: the asset and the event's onset (ISO 8601, UTC) -- the event's own key."""
    return f"{asset_id}|{pd.to_datetime(event_start, utc=True).isoformat()}"


def severity_level(severity: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """How many of the ascending ``levels`` each severity has reached."""
    return np.searchsorted(np.asarray(levels, dtype=np.float64), severity, side="right").astype(np.int32)


def parse_event_id(value: str) -> tuple[str, pd.Timestamp]:
    """``event_id``'s inverse: (asset, onset in UTC); ValueError for anything else."""
    asset, sep, start = value.rpartition("|")
    if not sep or not asset:
        raise ValueError(f"not an event id (asset|onset, as in the alerts): {value!r}")
    try:
        return asset, pd.to_datetime(start, utc=True)
    except ValueError as exc:
        raise ValueError(f"not an event id (asset|onset, as in the alerts): {value!r}") from exc


def in_maintenance(events: pd.DataFrame, windows: pd.DataFrame) -> np.ndarray:
    """Per event (``asset_id``, ``event_start``, ``event_end``): whether it overlaps a
    maintenance window of its asset (``asset_id``, ``window_start``, ``window_end``)."""
    hit = np.zeros(len(events), dtype=bool)
    if events.empty or windows.empty:
        return hit
    starts, ends = (naive_utc(events[c]).to_numpy() for c in ("event_start", "event_end"))
    assets = events["asset_id"].to_numpy()
    for w in windows.itertuples():
        w_start, w_end = (naive_utc(pd.Timestamp(t)).to_datetime64() for t in (w.window_start, w.window_end))
        hit |= (assets == w.asset_id) & (starts < w_end) & (ends > w_start)
    return hit


def due(candidates: pd.DataFrame, levels: Sequence[float]) -> pd.DataFrame:
    """Events (``anomaly_events`` columns, plus ``last_status``, ``last_level`` and
    ``last_kind`` of the alert last published, null if none) -> the alert rows to publish
    now (``MESSAGE_COLUMNS``). An event stored before kinds is a process event."""
    if candidates.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in MESSAGE_COLUMNS})
    severity = candidates["peak_score"].to_numpy(np.float64) / candidates["threshold"].to_numpy(np.float64)
    kind = candidates["kind"].fillna("process") if "kind" in candidates else pd.Series("process", candidates.index)
    alerts = candidates.assign(
        kind=kind, instrument_check=candidates.get("instrument_check"),
        event_id=[event_id(a, s) for a, s in zip(candidates["asset_id"], candidates["event_start"])],
        status=np.where(candidates["is_open"].astype(bool), "open", "closed"),
        severity=severity, severity_level=severity_level(severity, levels),
        day=pd.to_datetime(candidates["event_start"], utc=True).dt.floor("D"),
    )
    last_kind = alerts["last_kind"].fillna("process") if "last_kind" in alerts else alerts["kind"]
    changed = (alerts["status"] != alerts["last_status"]) | \
        (alerts["severity_level"] != pd.to_numeric(alerts["last_level"], errors="coerce").fillna(-1).astype(int)) | \
        (alerts["last_status"].notna() & (alerts["kind"] != last_kind))
    return alerts.loc[changed.to_numpy(bool), MESSAGE_COLUMNS].reset_index(drop=True)


# ---- predicted_limit: a forecast that may pass an operating limit ---------------------
LIMIT_COLUMNS = [c for c in LIMIT_ALERTS.column_names if c != "published_at"]


def limit_alert_id(asset_id: str, sensor: str) -> str:
    return f"{asset_id}|predicted_limit|{sensor}"


def limits_due(candidates: pd.DataFrame, alert_probability: float) -> pd.DataFrame:
    """Per asset and sensor with limits (``asset_id``, ``sensor``, ``limit_at``,
    ``probability`` over its newest forecasts, ``limit_low``, ``limit_high``,
    ``issued_at``, and ``last_status`` of the alert last published, null if none) -> the
    ``predicted_limit`` messages due now: ``predicted`` when the probability reaches
    ``alert_probability`` and it was not already, ``cleared`` when it no longer does and
    the last message said predicted. An unchanged state is never announced twice."""
    if candidates.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LIMIT_COLUMNS})
    likely = candidates["probability"].fillna(0.0).to_numpy(np.float64) >= alert_probability
    rows = candidates.assign(
        alert_id=[limit_alert_id(a, s) for a, s in zip(candidates["asset_id"], candidates["sensor"])],
        kind="predicted_limit", status=np.where(likely, "predicted", "cleared"))
    last = rows["last_status"].fillna("cleared")
    return rows.loc[(rows["status"] != last).to_numpy(bool), LIMIT_COLUMNS].reset_index(drop=True)
