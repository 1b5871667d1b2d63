"""The features in Spark: DataFrame in, DataFrame out.

``compute_features`` runs ``features.compute.features_frame`` (pandas, the one
implementation, vectorised across assets) on frames of whole assets with ``mapInPandas``;
the batch features job, training and prediction call it. Nothing here reads or writes
storage.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from features.compute import EVENT_COLUMNS, features_frame, output_columns, whole_assets
from schemas import SENSOR_FEATURES
from schemas.features import FeatureSpec, Selection


def interval_index(ts: Column, interval_s: int) -> Column:
    """The interval of a timestamp in Spark, for planning: the same rule as
    ``features.compute.interval_ix`` (floor of epoch seconds / interval_s)."""
    return F.floor(F.unix_micros(ts) / F.lit(interval_s * 1_000_000)).cast("long")


def compute_features(events: DataFrame, spec: FeatureSpec, selection: Selection | None = None) -> DataFrame:
    """Landing events -> ``sensor_features`` rows (one per asset and interval with events),
    or only ``asset_id``, ``interval_start`` and ``selection``'s columns (what prediction
    reads: only those are computed).

    One shuffle (by asset); in each partition the events are sorted by asset, and every
    Arrow batch's whole assets are computed in one vectorised pandas call (an asset whose
    events span batches waits for the rest). To get exact rows for intervals [a, b), pass
    the events of [a - spec.lookback_for(selection), b)."""

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in whole_assets(batches):
            yield features_frame(frame, spec, selection)

    fields = {f.name: f for f in SENSOR_FEATURES.spark_schema().fields}
    schema = StructType([fields[c] for c in output_columns(selection)])
    needed = [c for c in EVENT_COLUMNS if c in events.columns]
    grouped = events.select(*needed).repartition("asset_id").sortWithinPartitions("asset_id")
    return grouped.mapInPandas(per_partition, schema)
