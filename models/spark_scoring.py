"""Scoring in Spark: feature rows in, scores (and short forecasts) out (DataFrame in, DataFrame out).

A thin wrapper: ``models.serving.both_batches`` (the prediction job: scores and forecasts in
one pass) or ``score_batches`` (a challenger: scores only) does the work in each Python
worker through ``mapInPandas`` (an iterator of Arrow batches; the model's files travel with
the task and are unpacked once per worker).
Rows are co-located and ordered by asset so that an asset's rows arrive together.
"""

from __future__ import annotations

from functools import partial

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.forecasting import Recalibration
from models.serving import (
    FORECAST_COLUMNS,
    OUTPUT,
    SCORE_COLUMNS,
    Grid,
    Limits,
    both_batches,
    both_schema,
    score_batches,
    score_schema,
)
from models.shipped import ShippedModel


def score_features(rows: DataFrame, model: ShippedModel, columns: list[str], grid: Grid,
                   partitions: int | None = None, memo_dir: str | None = None) -> DataFrame:
    """``sensor_features``-shaped rows (``asset_id``, ``interval_start``, ``columns``) ->
    ``models.serving.SCORE_COLUMNS`` for the rows in the grid's scored range (``memo_dir``:
    the workers' forward-pass memo, ``models.memo``; none: off)."""
    return _ordered(rows, columns, partitions).mapInPandas(
        partial(score_batches, model=model, grid=grid, memo_dir=memo_dir), score_schema())


def score_and_forecast(rows: DataFrame, model: ShippedModel, columns: list[str], grid: Grid, every_s: int,
                       limits: Limits, recalibration: Recalibration | None = None,
                       partitions: int | None = None, memo_dir: str | None = None) -> DataFrame:
    """Both in one pass over the rows (one shuffle, each asset on the grid once):
    ``models.serving.BOTH_COLUMNS``; ``scores_of`` and ``forecasts_of`` take them apart
    (cache it first: both read it). ``recalibration`` (the stored interval recalibrations
    the issues may use) travels with the task; ``memo_dir``: the workers' forward-pass memo."""
    return _ordered(rows, columns, partitions).mapInPandas(
        partial(both_batches, model=model, grid=grid, every_s=every_s, limits=limits, recalibration=recalibration,
                memo_dir=memo_dir),
        both_schema())


def scores_of(both: DataFrame) -> DataFrame:
    """The score rows of ``score_and_forecast``'s output, as ``score_features`` gives them."""
    return both.where(F.col(OUTPUT) == "score").select(*SCORE_COLUMNS)


def forecasts_of(both: DataFrame) -> DataFrame:
    """The forecast rows of ``score_and_forecast``'s output (``models.serving.FORECAST_COLUMNS``)."""
    return both.where(F.col(OUTPUT) == "forecast").select(*FORECAST_COLUMNS)


def _ordered(rows: DataFrame, columns: list[str], partitions: int | None) -> DataFrame:
    """An asset's rows together, in time order."""
    partitions = partitions or rows.sparkSession.sparkContext.defaultParallelism
    return (rows.select("asset_id", "interval_start", *columns)
            .repartition(partitions, "asset_id").sortWithinPartitions("asset_id", "interval_start"))
