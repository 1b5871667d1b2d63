"""Anomaly events rebuilt from the stored scores, around what a prediction run wrote.

An event is a run of intervals above the threshold (``models.event_merging.merge_events``),
or an instrument's condition (``merge_conditions``), each of its kind (``classify``).
Rebuilding from ``anomaly_scores`` rather than from the run's own rows keeps events
replay-safe: an event that spans several runs, or that a late event or a backfill
changed, comes out the same as if one run had scored it all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from models.event_merging import classify, merge_conditions, merge_events
from models.serving import Grid
from sensorwatch.connectors.sql import SqlStore, records
from sensorwatch.connectors.sql import statements as q

# The score rows above the threshold are read a few assets at a time, at most about this
# many rows (by their spans: one interval a row) in a read: the driver's memory for them
# is bounded by a read, not by the fleet or its longest event, and a long-running driver's
# heap stays flat cycle after cycle (README, "Guarantees"). An asset whose span alone is
# longer is read on its own.
ROWS_PER_READ = 40_000


def update_events(store: SqlStore, assets: list[str], grid: Grid, min_duration: int,
                  tables: q.ScoreTables = q.CHAMPION, rows_per_read: int = ROWS_PER_READ) -> int:
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
    for touching in store.query(q.events_touching(store.target, assets, lo, hi, tables)):
        spans[touching.asset_id] = (min(lo, touching.first_start), max(hi, touching.last_end))
    newest = _newest(store, assets, lo, tables)
    # Events are per asset: merged a read at a time, only the events kept.
    merged = [classify(merge_events(_exceeding(store, chunk, spans, tables), grid.interval_s, newest),
                       merge_conditions(_conditions(store, chunk, spans, tables), grid.interval_s, newest))
              for chunk in reads(spans, grid.interval_s, rows_per_read)]
    events = pd.concat([m for m in merged if len(m)] or merged[:1], ignore_index=True)
    store.upsert(tables.events, records(events))
    start, end = min(s for s, _ in spans.values()), max(e for _, e in spans.values())
    kept = {(a, pd.Timestamp(t)) for a, t in zip(events["asset_id"], events["event_start"])}
    stale = [tuple(key) for key in store.query(q.event_keys_starting(store.target, assets, start, end, tables))
             if (key.asset_id, pd.Timestamp(key.event_start)) not in kept
             and spans[key.asset_id][0] <= key.event_start < spans[key.asset_id][1]]
    store.delete_keys(tables.events, stale)
    return int(events["is_open"].sum()) if len(events) else 0


def _newest(store: SqlStore, assets: list[str], since: datetime, tables: q.ScoreTables) -> dict[str, pd.Timestamp]:
    """Each asset's newest stored score row's interval: looked for from ``since`` first
    (where the run has just written: the newest day partitions read, not the whole history
    the store keeps), over every row for an asset without one there."""
    newest = {r.asset_id: pd.Timestamp(r.newest) for r in store.query(q.newest_score(store.target, assets, tables,
                                                                                       since=since))}
    if older := [a for a in assets if a not in newest]:
        newest |= {r.asset_id: pd.Timestamp(r.newest) for r in store.query(q.newest_score(store.target, older, tables))}
    return newest


def reads(spans: dict[str, tuple[datetime, datetime]], interval_s: int, rows: int) -> list[list[str]]:
    """The assets in reads of at most ``rows`` intervals each, a read covering its
    assets' spans together (in order of span start: a long event's asset does not
    widen the reads of the others)."""
    out: list[list[str]] = []
    chunk: list[str] = []
    lo = hi = datetime.min
    for asset in sorted(spans, key=lambda a: (spans[a][0], a)):
        start, end = spans[asset]
        if chunk and (len(chunk) + 1) * (max(hi, end) - lo).total_seconds() / interval_s > rows:
            out.append(chunk)
            chunk = []
        lo, hi = (start, end) if not chunk else (lo, max(hi, end))  # sorted: lo <= start
        chunk.append(asset)
    return [*out, chunk] if chunk else out


def _exceeding(store: SqlStore, assets: list[str], spans: dict[str, tuple[datetime, datetime]],
               tables: q.ScoreTables) -> pd.DataFrame:
    """The stored score rows of ``assets`` above the threshold, each in its asset's span,
    with ``after_exceeding`` (whether the asset's previous score row was above it too: a
    run goes on over intervals without data, ``models.event_merging``)."""
    start, end = min(spans[a][0] for a in assets), max(spans[a][1] for a in assets)
    exceeding = pd.DataFrame(store.query(q.exceeding_scores(store.target, assets, start, end, tables)),
                             columns=list(q.EXCEEDING_COLUMNS))
    # Every row's flag, of the assets with a row above the threshold only (the others have
    # no run to start): most of a fleet, most of the time.
    above = sorted(exceeding["asset_id"].unique())
    flags = pd.DataFrame(store.query(q.exceedances(store.target, above, start, end, tables)) if above else [],
                         columns=["asset_id", "interval_start", "exceeds"]).sort_values(["asset_id", "interval_start"])
    flags["after_exceeding"] = flags.groupby("asset_id")["exceeds"].shift(1)  # None: the first row read
    exceeding = exceeding.merge(flags[["asset_id", "interval_start", "after_exceeding"]],
                                on=["asset_id", "interval_start"], how="left")
    exceeding["interval_start"] = pd.to_datetime(exceeding["interval_start"], utc=True)
    lo_of = pd.to_datetime(exceeding["asset_id"].map({a: spans[a][0] for a in assets}), utc=True)
    hi_of = pd.to_datetime(exceeding["asset_id"].map({a: spans[a][1] for a in assets}), utc=True)
    return exceeding.loc[(lo_of <= exceeding["interval_start"]) & (exceeding["interval_start"] < hi_of)]


def _conditions(store: SqlStore, assets: list[str], spans: dict[str, tuple[datetime, datetime]],
                tables: q.ScoreTables) -> pd.DataFrame:
    """The stored score rows of ``assets`` in an instrument condition, each in its asset's span."""
    start, end = min(spans[a][0] for a in assets), max(spans[a][1] for a in assets)
    rows = pd.DataFrame(store.query(q.instrument_conditions(store.target, assets, start, end, tables)),
                        columns=list(q.CONDITION_COLUMNS))
    for name in ("interval_start", "instrument_since"):
        rows[name] = pd.to_datetime(rows[name], utc=True)
    lo_of = pd.to_datetime(rows["asset_id"].map({a: spans[a][0] for a in assets}), utc=True)
    hi_of = pd.to_datetime(rows["asset_id"].map({a: spans[a][1] for a in assets}), utc=True)
    return rows.loc[(lo_of <= rows["interval_start"]) & (rows["interval_start"] < hi_of)]
