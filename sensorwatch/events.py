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

# The score rows above the threshold are read this many assets at a time: the driver's
# memory for them is bounded by a chunk, not the fleet (2,000 pumps whose every interval
# exceeds would be ~350 MiB of Python objects at once; a peak that size, every cycle,
# also left the long-running driver's Python heap fragmented and growing: issue 19).
ASSETS_PER_READ = 200


def update_events(store: SqlStore, assets: list[str], grid: Grid, min_duration: int,
                  tables: q.ScoreTables = q.CHAMPION, assets_per_read: int = ASSETS_PER_READ) -> int:
    """Rebuild the events of ``assets`` around the scored range from the stored scores:
    from ``min_duration`` intervals before it (an onset a previous run saw) or the start
    of an event it touches, to its end or the end of such an event. New and grown events
    are upserted first (one statement for all assets), then events that no longer exist
    are deleted. Returns the number of open events among them. ``tables``: the
    champion's (default) or a challenger version's."""
    if not assets:
        return 0
    step = timedelta(seconds=grid.interval_s)
    lo, hi = grid.scored_start - step * min_duration, grid.end
    spans = {a: (lo, hi) for a in assets}
    for asset, first, last in store.query(q.events_touching(store.target, assets, lo, hi, tables)):
        spans[asset] = (min(lo, first), max(hi, last))
    newest = {a: pd.Timestamp(t) for a, t in store.query(q.newest_score(store.target, assets, tables))}
    # Events are per asset: merged a chunk of assets at a time, only the events kept.
    chunks = [merge_events(_exceeding(store, assets[i:i + assets_per_read], spans, tables), grid.interval_s, newest)
              for i in range(0, len(assets), assets_per_read)]
    events = pd.concat([c for c in chunks if len(c)] or chunks[:1], ignore_index=True)
    store.upsert(tables.events, records(events))
    start, end = min(s for s, _ in spans.values()), max(e for _, e in spans.values())
    kept = {(a, pd.Timestamp(t)) for a, t in zip(events["asset_id"], events["event_start"])}
    stale = [key for key in store.query(q.event_keys_starting(store.target, assets, start, end, tables))
             if (key[0], pd.Timestamp(key[1])) not in kept and spans[key[0]][0] <= key[1] < spans[key[0]][1]]
    store.delete_keys(tables.events, stale)
    return int(events["is_open"].sum()) if len(events) else 0


def _exceeding(store: SqlStore, assets: list[str], spans: dict[str, tuple], tables: q.ScoreTables) -> pd.DataFrame:
    """The stored score rows of ``assets`` above the threshold, each in its asset's span,
    with ``after_exceeding`` (whether the asset's previous score row was above it too: a
    run goes on over intervals without data, ``models.events``)."""
    start, end = min(spans[a][0] for a in assets), max(spans[a][1] for a in assets)
    exceeding = pd.DataFrame(store.query(q.exceeding_scores(store.target, assets, start, end, tables)),
                             columns=[*q.EXCEEDING_COLUMNS, "after_exceeding"])
    exceeding["interval_start"] = pd.to_datetime(exceeding["interval_start"], utc=True)
    lo_of = pd.to_datetime(exceeding["asset_id"].map({a: spans[a][0] for a in assets}), utc=True)
    hi_of = pd.to_datetime(exceeding["asset_id"].map({a: spans[a][1] for a in assets}), utc=True)
    return exceeding.loc[(lo_of <= exceeding["interval_start"]) & (exceeding["interval_start"] < hi_of)]
