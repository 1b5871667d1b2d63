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
from schemas.features import INTERVAL_STATS, FeatureSpec, Selection, column
from schemas.time import naive_utc

# Among deliveries of the same reading, the latest wins: by ingest time, then Kafka
# partition and offset (producer retries and re-sent corrections count once).
DELIVERY_ORDER = ("ingest_time", "kafka_partition", "kafka_offset")
ALL_INTERVAL_STATS = tuple(st.name for st in INTERVAL_STATS)
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


def interval_aggregates(events: pd.DataFrame, spec: FeatureSpec,
                        stats: tuple[str, ...] = ALL_INTERVAL_STATS) -> pd.DataFrame:
    """One row per asset and interval with events (``asset_id``, ``_ix``): the interval
    statistics ``stats`` (default: all) of each sensor. ``events``: de-duplicated, in
    (asset, event-time) order (``last`` = latest present)."""
    keyed = events.assign(**{IX: interval_ix(events["event_time"], spec.interval_s)})
    grouped = keyed.groupby(["asset_id", IX], sort=True)
    # The interval statistics are named after pandas' aggregations (std: ddof=1; last:
    # the latest non-null value), so the declarations drive the aggregation directly.
    # Each group's value depends on its own readings only: many assets at once give what
    # each would get alone.
    values = grouped[list(SENSOR_NAMES)].agg(list(stats))
    values.columns = [column(s, st) for s, st in values.columns]
    values["event_count"] = grouped.size().astype(np.int64)
    if "count" in stats:
        counts = values[[column(s, "count") for s in SENSOR_NAMES]]
        values["missing_sensors"] = (counts == 0).sum(axis=1).astype(np.int32)
    return values.reset_index()


def features_frame(events: pd.DataFrame, spec: FeatureSpec, selection: Selection | None = None) -> pd.DataFrame:
    """Events of any number of assets -> their rows, sorted by asset and interval: all
    ``sensor_features`` columns in table order, or ``asset_id``, ``interval_start`` and
    the ``selection``'s columns (only what they need is computed, with the same values).

    Each row depends only on its asset's events in its own last K intervals: to get exact
    rows for intervals [a, b), pass the events of [a - spec.lookback_for(selection), b)
    and keep [a, b)."""
    names = output_columns(selection)
    if events.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    if selection is None:
        rows = rolling_stats(interval_aggregates(deduplicate(events), spec), spec, SENSOR_NAMES)
    else:
        rows = interval_aggregates(deduplicate(events), spec, selection.interval_stats)
        if selection.windowed:
            rows = rolling_stats(rows, spec, selection.rolling_sensors)
    start = pd.to_datetime(rows[IX] * spec.interval_s, unit="s")  # naive UTC, as Spark's session
    rows = rows.assign(interval_start=start, day=start.dt.floor("D"))
    for s in SENSOR_NAMES:  # counts are integers, also where the whole sensor is absent
        if column(s, "count") in rows.columns:
            rows[column(s, "count")] = rows[column(s, "count")].astype(np.int64)
    return rows[names]


def output_columns(selection: Selection | None) -> list[str]:
    """The columns ``features_frame`` returns for ``selection`` (None: the whole table)."""
    if selection is None:
        return SENSOR_FEATURES.column_names
    return ["asset_id", "interval_start", *selection.columns]


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
