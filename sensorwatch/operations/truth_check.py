"""The anomaly events against the simulator's ground truth, per kind of injected anomaly.

The producers write what they injected (``var/ground_truth/simulator-*.json``); this reads
those files and the champion's committed events from the SQL store, and scores them with
``models.metrics.kind_card``: per kind, how many were injected, found, and found with the
right kind (a stuck sensor, a spike or a drift as ``instrument``, a cavitation fault as
``process``), and the events no injected anomaly explains. What ``make demo`` prints last.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from models.metrics import TRUE_KIND, KindCard, kind_card
from schemas.errors import UsageError
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q


def injected(truth_dir: Path) -> list[dict]:
    """The simulator's injected anomalies in ``truth_dir`` (timestamps in UTC)."""
    out = []
    for path in sorted(truth_dir.glob("*.json")):
        truth = json.loads(path.read_text())
        if truth.get("source") != "simulator":
            continue
        out += [{**a, "start": pd.Timestamp(a["start"]), "end": pd.Timestamp(a["end"])} for a in truth["anomalies"]]
    if not out:
        raise UsageError(f"no simulator ground truth in {truth_dir}: run `sensorwatch produce simulate` first")
    return out


def check(store: SqlStore, truth_dir: Path) -> KindCard:
    truths = injected(truth_dir)
    assets = sorted({t["asset_id"] for t in truths})
    utc = lambda t: pd.Timestamp(t).tz_localize("UTC") if pd.Timestamp(t).tzinfo is None else pd.Timestamp(t)
    scored = {r.asset_id: (utc(r.first_start), utc(r.last_start))
              for r in store.query(q.scored_spans(store.target, assets))}
    events = [{"asset_id": e.asset_id, "event_start": utc(e.event_start), "event_end": utc(e.event_end),
               "kind": e.kind} for e in store.query(q.events_of(store.target, assets))]
    return kind_card(truths, events, scored)


def table(card: KindCard) -> str:
    """The per-kind table a person reads."""
    lines = [f"{'injected anomaly':18s} {'expected kind':13s} {'injected':>8s} {'found':>6s} {'right kind':>10s}"]
    for kind, row in card.per_kind.items():
        lines.append(f"{kind:18s} {TRUE_KIND[kind]:13s} {row['injected']:>8d} {row['found']:>6d} "
                     f"{row['right_kind']:>10d}")
    t = card.totals()
    lines.append(f"{'all':18s} {'':13s} {t['injected']:>8d} {t['found']:>6d} {t['right_kind']:>10d}")
    lines.append(f"false events (overlapping no injected anomaly): {t['false_events']} "
                 f"({t['false_per_day']} per asset-day)")
    return "\n".join(lines)
