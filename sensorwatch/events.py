"""Anomaly events rebuilt from the stored scores, around what a prediction run wrote.

An event is a run of intervals above the threshold (``models.events.merge_events``).
Rebuilding from ``anomaly_scores`` rather than from the run's own rows keeps events
replay-safe: an event that spans several runs, or that a late event or a backfill
changed, comes out the same as if one run had scored it all.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from models.events import merge_events
from models.serving import Grid
from sensorwatch.connectors.sql import SqlStore, records
from sensorwatch.connectors.sql import statements as q


def update_events(store: SqlStore, assets: list[str], grid: Grid, min_duration: int,
                  tables: q.ScoreTables = q.CHAMPION) -> int:
    """Rebuild the events of ``assets`` around the scored range from the stored scores:
    from ``min_duration`` intervals before it (an onset a previous run saw) or the start
    of an event it touches, to its end or the end of such an event. New and grown events
    are upserted first, then events that no longer exist are deleted. Returns the number
    of open events among them. ``tables``: the champion's (default) or a challenger version's."""
    if not assets:
        return 0
    step = timedelta(seconds=grid.interval_s)
    lo, hi = grid.scored_start - step * min_duration, grid.end
    spans = {a: (lo, hi) for a in assets}
    for asset, first, last in store.query(q.events_touching(store.target, assets, lo, hi, tables)):
        spans[asset] = (min(lo, first), max(hi, last))
    start, end = min(s for s, _ in spans.values()), max(e for _, e in spans.values())
    # The rows above the threshold, each with whether the asset's previous score row was
    # above it too (a run goes on over intervals without data: models.events).
    exceeding = pd.DataFrame(store.query(q.exceeding_scores(store.target, assets, start, end, tables)),
                             columns=[*q.EXCEEDING_COLUMNS, "after_exceeding"])
    exceeding["interval_start"] = pd.to_datetime(exceeding["interval_start"], utc=True)
    lo_of = exceeding["asset_id"].map({a: s for a, (s, _) in spans.items()})
    hi_of = exceeding["asset_id"].map({a: e for a, (_, e) in spans.items()})
    exceeding = exceeding.loc[(pd.to_datetime(lo_of, utc=True) <= exceeding["interval_start"])
                              & (exceeding["interval_start"] < pd.to_datetime(hi_of, utc=True))]
    newest = {a: pd.Timestamp(t) for a, t in store.query(q.newest_score(store.target, assets, tables))}
    events = merge_events(exceeding, grid.interval_s, newest)
    store.upsert(tables.events, records(events))
    kept = {(a, pd.Timestamp(t)) for a, t in zip(events["asset_id"], events["event_start"])}
    stale = [key for key in store.query(q.event_keys_starting(store.target, assets, start, end, tables))
             if (key[0], pd.Timestamp(key[1])) not in kept and spans[key[0]][0] <= key[1] < spans[key[0]][1]]
    store.delete_keys(tables.events, stale)
    return int(events["is_open"].sum()) if len(events) else 0

