"""Operators' feedback: labels of anomaly events, and maintenance windows per asset.

``label_event`` records what an operator says of an event (``confirmed``,
``false_alarm``, ``maintenance``, ``unsure``) in ``anomaly_feedback``, one row per label
(the newest counts); a BI tool may add the same rows as the BI login, which may INSERT
into that table and nothing else. ``add_maintenance`` records planned work on an asset:
events that overlap it are scored and stored as always but not alerted
(``sensorwatch.operations.alerts``).
"""

from __future__ import annotations

from typing import Any

from models.alert_rules import event_id, parse_event_id
from schemas import ANOMALY_FEEDBACK, FEEDBACK_LABELS, MAINTENANCE_WINDOWS
from schemas.errors import UsageError
from schemas.time import TimeRange, now
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q


def label_event(store: SqlStore, event: str, label: str, author: str, note: str | None = None) -> dict[str, Any]:
    """Record ``label`` for the event ``event`` (its id: ``asset|onset``, as in the alerts).
    UsageError for an unknown label or event."""
    if label not in FEEDBACK_LABELS:
        raise UsageError(f"unknown label {label!r}: one of {', '.join(FEEDBACK_LABELS)}")
    try:
        asset, onset = parse_event_id(event)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not store.query(q.event_exists(store.target, asset, onset.to_pydatetime())):
        raise UsageError(f"no anomaly event {event!r} (see `sensorwatch alerts` or v_anomaly_events)")
    row = {"event_id": event_id(asset, onset), "asset_id": asset, "event_start": onset.to_pydatetime(),
           "label": label, "note": note, "author": author, "labelled_at": now()}
    store.upsert(ANOMALY_FEEDBACK, [row])
    return row


def add_maintenance(store: SqlStore, asset: str, span: TimeRange, author: str,
                    note: str | None = None) -> dict[str, Any]:
    """Record a maintenance window of ``asset`` over ``span``."""
    row = {"asset_id": asset, "window_start": span.start, "window_end": span.end, "note": note,
           "author": author, "created_at": now()}
    store.upsert(MAINTENANCE_WINDOWS, [row])
    return row
