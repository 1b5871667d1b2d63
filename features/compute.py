"""Landing events -> ``sensor_features`` rows, in pandas: the one implementation.

    events --deduplicate--> --interval_aggregates--> --rolling_stats--> rows

``features_frame`` does it for any number of assets at once, vectorised across them (one
sort, one grouped aggregation, one set of rolling windows for the whole frame), with the
values each asset would get on its own, bit for bit. Spark runs it on each batch of
assets (``features.transforms``, ``mapInPandas``); the SKAB evaluation and tests call it
directly, without Spark. So batch features, training, prediction and evaluation share
the same code.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from features.rolling import IX, rolling_stats
from schemas import SENSOR_FEATURES, SENSOR_NAMES
from schemas.features import INTERVAL_STATS, FeatureSpec, column
from schemas.time import naive_utc

# Among deliveries of the same reading, the latest wins: by ingest time, then Kafka
# partition and offset (producer retries and re-sent corrections count once).
DELIVERY_ORDER = ("ingest_time", "kafka_partition", "kafka_offset")
EVENT_COLUMNS = ("asset_id", "event_time", *SENSOR_NAMES, *DELIVERY_ORDER)  # what the rows need


def interval_ix(event_time: pd.Series, interval_s: int) -> np.ndarray:
    """floor(epoch seconds / interval_s) of naive-UTC (or tz-aware) timestamps."""
    us = naive_utc(event_time).to_numpy("datetime64[us]").astype(np.int64)
    return us // (interval_s * 1_000_000)


def deduplicate(events: pd.DataFrame) -> pd.DataFrame:
    """One reading per (asset, event_time); the latest delivery wins; sorted by asset and event time."""
    order = ["asset_id", "event_time", *(c for c in DELIVERY_ORDER if c in events.columns)]
    return (events.sort_values(order, kind="stable")
            .drop_duplicates(["asset_id", "event_time"], keep="last").reset_index(drop=True))


def interval_aggregates(events: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """One row per asset and interval with events (``asset_id``, ``_ix``): the interval
    statistics of each sensor. ``events``: de-duplicated, in (asset, event-time) order
    (``last`` = latest present)."""
    keyed = events.assign(**{IX: interval_ix(events["event_time"], spec.interval_s)})
    grouped = keyed.groupby(["asset_id", IX], sort=True)
    # The interval statistics are named after pandas' aggregations (std: ddof=1; last:
    # the latest non-null value), so the declarations drive the aggregation directly.
    # Each group's value depends on its own readings only: many assets at once give what
    # each would get alone.
    stats = grouped[list(SENSOR_NAMES)].agg([st.name for st in INTERVAL_STATS])
    stats.columns = [column(s, st) for s, st in stats.columns]
    counts = stats[[column(s, "count") for s in SENSOR_NAMES]]
    stats["event_count"] = grouped.size().astype(np.int64)
    stats["missing_sensors"] = (counts == 0).sum(axis=1).astype(np.int32)
    return stats.reset_index()


def features_frame(events: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Events of any number of assets -> their rows (all ``sensor_features`` columns, in
    table order), sorted by asset and interval.

    Each row depends only on its asset's events in its own last K intervals: to get exact
    rows for intervals [a, b), pass the events of [a - spec.lookback_s, b) and keep [a, b)."""
    if events.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in SENSOR_FEATURES.column_names})
    rows = rolling_stats(interval_aggregates(deduplicate(events), spec), spec, SENSOR_NAMES)
    start = pd.to_datetime(rows[IX] * spec.interval_s, unit="s")  # naive UTC, as Spark's session
    rows = rows.assign(interval_start=start, day=start.dt.floor("D"))
    for s in SENSOR_NAMES:  # counts are integers, also where the whole sensor is absent
        rows[column(s, "count")] = rows[column(s, "count")].astype(np.int64)
    return rows[SENSOR_FEATURES.column_names]


def whole_assets(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Batches of rows in asset order (an asset's rows may span batches) -> frames that each
    hold every row of the assets in them: an asset is passed on once the next one starts.
    How a Spark worker's Arrow batches become frames of whole assets (``mapInPandas``)."""
    carry: pd.DataFrame | None = None
    for batch in batches:
        batch = batch if carry is None else pd.concat([carry, batch], ignore_index=True)
        if batch.empty:
            continue
        last = batch["asset_id"].iloc[-1]
        done, carry = batch[batch["asset_id"] != last], batch[batch["asset_id"] == last]
        if not done.empty:
            yield done
    if carry is not None and not carry.empty:
        yield carry
