"""The features in Spark: DataFrame in, DataFrame out.

``compute_features`` runs ``features.compute.asset_features`` (pandas, the one
implementation) per asset with ``applyInPandas``; the batch features job, training and
prediction call it. Nothing here reads or writes storage.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.compute import EVENT_COLUMNS, asset_features
from schemas import SENSOR_FEATURES
from schemas.features import FeatureSpec


def interval_index(ts: Column, interval_s: int) -> Column:
    """The interval of a timestamp in Spark, for planning: the same rule as
    ``features.compute.interval_ix`` (floor of epoch seconds / interval_s)."""
    return F.floor(F.unix_micros(ts) / F.lit(interval_s * 1_000_000)).cast("long")


def compute_features(events: DataFrame, spec: FeatureSpec) -> DataFrame:
    """Landing events -> ``sensor_features`` rows (one per asset and interval with events).

    One shuffle (by asset); each asset's events are processed in one pandas frame. To get
    exact rows for intervals [a, b), pass the events of [a - spec.lookback_s, b)."""

    def per_asset(group: pd.DataFrame) -> pd.DataFrame:
        return asset_features(group, spec)

    needed = [c for c in EVENT_COLUMNS if c in events.columns]
    return events.select(*needed).groupBy("asset_id").applyInPandas(per_asset, SENSOR_FEATURES.spark_schema())
