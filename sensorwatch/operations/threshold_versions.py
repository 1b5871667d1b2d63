"""Per-asset thresholds recalibrated from operators' labels, versioned, applied on purpose.

``recalibrate`` reads the champion's labelled events (newest label per event:
``confirmed`` or ``false_alarm``), replays each labelled asset's stored scores under
candidate thresholds (``models.recalibrate``) and proposes, per asset, the lowest
threshold at which false alarms are at most ``budget`` of what it alerts without losing a
confirmed event. The proposal is stored as a new version (``threshold_versions``, status
``proposed``) with what the labelled history says before and after, and changes nothing
until ``apply`` makes it ``active``: from the next prediction run on, the active
version's thresholds replace the model's calibration for its assets, and every score row
names the threshold version it was scored with (``anomaly_scores.threshold_version``; 0:
the model's own calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd

from models import recalibrate, registry
from schemas import ANOMALY_SCORES, THRESHOLD_VERSIONS
from schemas.errors import UsageError
from schemas.records import ACTIVE, PROPOSED, RETIRED
from schemas.time import now
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import records as plain_records
from sensorwatch.connectors.sql import statements as q


@dataclass(frozen=True)
class Proposal:
    version: int | None  # None: nothing to change
    rows: list[dict[str, Any]]  # the version's rows (changed assets and carried-over overrides)
    report: list[str]  # per labelled asset: before -> after on the labelled history


def active(store: SqlStore, model_name: str, model_version: int) -> tuple[int, dict[str, float]]:
    """(the active version, its per-asset thresholds); (0, {}) when none is active."""
    return _active(_rows(store, model_name, model_version))


def _active(rows: pd.DataFrame) -> tuple[int, dict[str, float]]:
    live = rows[rows["status"] == ACTIVE]
    if live.empty:
        return 0, {}
    return int(live["version"].iloc[0]), dict(zip(live["asset_id"], live["threshold"].astype(float)))


def recalibrate_thresholds(store: SqlStore, settings: Settings, budget: float) -> Proposal:
    if not 0 <= budget < 1:
        raise UsageError(f"--budget is the false-alarm share allowed (0 <= budget < 1), got {budget}")
    model = registry.load(settings.model)
    detector, interval_s = model.detector, settings.features.interval_s
    labelled = pd.DataFrame(store.query(q.labelled_events(store.target, model.name, model.version)),
                            columns=["asset_id", "event_start", "event_end", "label"])
    existing = _rows(store, model.name, model.version)
    version_now, overrides = _active(existing)
    rows, report = [], []
    margin = timedelta(seconds=interval_s * detector.spec.min_duration)
    for asset, events in labelled.groupby("asset_id", sort=True):
        current = overrides.get(asset, detector.calibration(asset).threshold)
        scores = pd.DataFrame(store.query(q.rows_between(
            store.target, ANOMALY_SCORES, ["interval_start", "score"], events["event_start"].min() - margin,
            events["event_end"].max() + margin, [asset])), columns=["interval_start", "score"])
        before, after = recalibrate.propose(scores, events, current, budget, detector.spec.min_duration, interval_s)
        report.append(f"{asset}: threshold {current:.4g} -> {after.threshold:.4g}; labelled history: "
                      f"{before.confirmed} confirmed, {before.false_alarms} false alarm(s) alerted -> "
                      f"{after.confirmed} confirmed, {after.false_alarms} false alarm(s)")
        if after.threshold != current:
            overrides[asset] = after.threshold
            rows.append(_row(model, asset, after.threshold, current, budget, report[-1]))
    if not rows:
        return Proposal(None, [], report)
    version = int(existing["version"].max()) + 1 if len(existing) else 1
    changed = {r["asset_id"] for r in rows}
    rows += [_row(model, a, t, t, budget, f"carried over from version {version_now}")
             for a, t in overrides.items() if a not in changed]
    for r in rows:
        r["version"] = version
    store.upsert(THRESHOLD_VERSIONS, rows)
    return Proposal(version, rows, report)


def apply_version(store: SqlStore, settings: Settings, version: int) -> list[dict[str, Any]]:
    """Make ``version`` of the champion's thresholds active (the active one, if any, retired)."""
    model = registry.load(settings.model)
    rows = _rows(store, model.name, model.version)
    if not (rows["version"] == version).any():
        raise UsageError(f"no threshold version {version} for {model.name} v{model.version}")
    changed = rows[(rows["status"] == ACTIVE) | (rows["version"] == version)].copy()
    changed["status"] = [ACTIVE if v == version else RETIRED for v in changed["version"]]
    records = plain_records(changed)
    store.upsert(THRESHOLD_VERSIONS, records)
    return [r for r in records if r["status"] == ACTIVE]


def _rows(store: SqlStore, model_name: str, model_version: int) -> pd.DataFrame:
    return pd.DataFrame(store.query(q.threshold_rows(store.target, model_name, model_version)),
                        columns=THRESHOLD_VERSIONS.column_names)


def _row(model: registry.LoadedModel, asset: str, threshold: float, previous: float, budget: float,
         basis: str) -> dict[str, Any]:
    return {"model_name": model.name, "model_version": model.version, "version": 0, "asset_id": asset,
            "threshold": float(threshold), "previous": float(previous), "status": PROPOSED, "budget": budget,
            "basis": basis, "created_at": now()}

