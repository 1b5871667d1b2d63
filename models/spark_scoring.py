"""Scoring in Spark: feature rows in, scores out (DataFrame in, DataFrame out).

A thin wrapper: ``models.serving.score_batches`` does the work in each Python worker
through ``mapInPandas`` (an iterator of Arrow batches; the model's files travel with the
task and are unpacked once per worker).
Rows are co-located and ordered by asset so that an asset's rows arrive together.
"""

from __future__ import annotations

from functools import partial

from pyspark.sql import DataFrame

from models.serving import Grid, Limits, forecast_batches, forecast_schema, score_batches, score_schema
from models.shipped import ShippedModel


def score_features(rows: DataFrame, model: ShippedModel, columns: list[str], grid: Grid,
                   partitions: int | None = None) -> DataFrame:
    """``sensor_features``-shaped rows (``asset_id``, ``interval_start``, ``columns``) ->
    ``models.serving.SCORE_COLUMNS`` for the rows in the grid's scored range."""
    return _ordered(rows, columns, partitions).mapInPandas(partial(score_batches, model=model, grid=grid),
                                                           score_schema())


def forecast_features(rows: DataFrame, model: ShippedModel, columns: list[str], grid: Grid, every_s: int,
                      limits: Limits, partitions: int | None = None) -> DataFrame:
    """The same rows -> ``models.serving.FORECAST_COLUMNS``: each asset's short forecasts
    issued in the grid's scored range (every ``every_s``), against the operating ``limits``."""
    return _ordered(rows, columns, partitions).mapInPandas(
        partial(forecast_batches, model=model, grid=grid, every_s=every_s, limits=limits), forecast_schema())


def _ordered(rows: DataFrame, columns: list[str], partitions: int | None) -> DataFrame:
    """An asset's rows together, in time order."""
    partitions = partitions or rows.sparkSession.sparkContext.defaultParallelism
    return (rows.select("asset_id", "interval_start", *columns)
            .repartition(partitions, "asset_id").sortWithinPartitions("asset_id", "interval_start"))
