"""Scoring the newest feature rows with a registered model, without Spark.

``score_batches`` is what each Spark Python worker runs (``models.spark_scoring`` wires it
into ``mapInPandas``); it also runs in-process, which is how the tests and the benchmark
compare the two paths. The model travels with the task (``models.shipped``) and is
unpacked once per Python process and registered version.

Rows are put on the full interval grid of the range read (``Grid``): a missing interval
becomes an all-missing row instead of closing the gap. A row's score then depends only on
the intervals in the fixed time span before it, so a live run, a re-run and a backfill
over any range give the same score to the same interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from features.compute import whole_assets
from models import instrument, residuals
from models.detector import Detector
from models.shipped import ShippedModel, detector_for
from schemas import ANOMALY_SCORES, SENSOR_NAMES
from schemas.time import utc

# What scoring produces; the job adds the lineage columns.
SCORE_COLUMNS = ("asset_id", "interval_start", "score", "threshold", "exceeds", "is_anomaly", "top_sensors",
                 "top_contributions", "instrument_check", "instrument_sensor", "instrument_since")


def score_schema():
    """The Spark schema of ``SCORE_COLUMNS`` (types from ``anomaly_scores``)."""
    from pyspark.sql.types import StructType

    fields = {f.name: f for f in ANOMALY_SCORES.spark_schema().fields}
    return StructType([fields[c] for c in SCORE_COLUMNS])


@dataclass(frozen=True)
class Grid:
    """The interval grid of one prediction: rows are read from ``start``, scored rows are
    those in [``scored_start``, ``end``)."""

    start: datetime
    scored_start: datetime
    end: datetime
    interval_s: int

    @classmethod
    def for_range(cls, scored_start: datetime, end: datetime, interval_s: int, lookback_rows: int) -> Grid:
        return cls(scored_start - timedelta(seconds=interval_s * lookback_rows), scored_start, end, interval_s)

    def index(self) -> pd.DatetimeIndex:
        return pd.date_range(_naive(self.start), _naive(self.end), freq=f"{self.interval_s}s", inclusive="left")


def score_frame(detector: Detector, rows: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """Feature rows of any assets (``asset_id``, naive-UTC ``interval_start``, the model's
    columns) -> ``SCORE_COLUMNS`` for the rows present in the scored range."""
    index = grid.index()
    frames, present = {}, {}
    for asset, group in rows.groupby("asset_id", sort=True):
        group = group.drop_duplicates("interval_start").set_index("interval_start")
        frames[asset] = group.reindex(index)[detector.spec.columns].reset_index(names="interval_start")
        present[asset] = index.isin(group.index) & (index >= _naive(grid.scored_start))
    parts = []
    for asset, scored in detector.score_many(frames).items():
        keep = present[asset]
        if not keep.any():  # rows only in the lookback: nothing of this asset to score
            continue
        score = scored["score"].to_numpy()[keep]
        names, shares = _top(np.stack(scored["contributions"].to_numpy()[keep]), np.isfinite(score),
                             detector.spec.top_sensors)
        check, sensor, since = _instrument(detector, asset, frames[asset], index)
        parts.append(pd.DataFrame({
            "asset_id": asset, "interval_start": index[keep], "score": score,
            "threshold": scored["threshold"].to_numpy()[keep], "exceeds": scored["exceeds"].to_numpy()[keep],
            "is_anomaly": scored["is_anomaly"].to_numpy()[keep], "top_sensors": names, "top_contributions": shares,
            "instrument_check": check[keep], "instrument_sensor": sensor[keep], "instrument_since": since[keep],
        }))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(SCORE_COLUMNS)]


def score_batches(batches: Iterator[pd.DataFrame], model: ShippedModel, grid: Grid) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` in each Spark Python worker: the shipped ``model``'s detector
    (unpacked once per process) over ``score_stream``."""
    return score_stream(batches, detector_for(model), grid)


def score_stream(batches: Iterator[pd.DataFrame], detector: Detector, grid: Grid) -> Iterator[pd.DataFrame]:
    """Batches of feature rows sorted by (asset, interval) -> scores. An asset's rows may
    span batches: each is scored once all its rows have arrived, and the assets complete
    in a batch are scored together (one batched forecast)."""
    for frame in whole_assets(batches):
        yield score_frame(detector, frame, grid)


def _instrument(detector: Detector, asset: str, rows: pd.DataFrame,
                index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Per row on the grid: the instrument condition it is in (check, sensor, where it
    began; None each where none). ``since`` reaches back at most the detector's lookback,
    the rows any run over this row reads: a live run and a backfill agree on it."""
    flags = detector.instrument_flags(asset, rows)
    if flags:
        check, sensor, since = instrument.condition_per_row(flags)
    else:
        check = sensor = since = np.full(len(index), -1)
    flagged = check >= 0
    began = np.maximum(since, np.arange(len(index)) - detector.lookback_rows).clip(0)
    checks = np.asarray(instrument.CHECKS, dtype=object)[check.clip(0)]
    sensors = np.asarray(SENSOR_NAMES, dtype=object)[sensor.clip(0)]
    checks[~flagged] = sensors[~flagged] = None
    return checks, sensors, pd.DatetimeIndex(np.where(flagged, index[began].to_numpy(), np.datetime64("NaT")))


def _top(contributions: np.ndarray, scored: np.ndarray, k: int) -> tuple[list, list]:
    """Per row: the ``k`` top sensors and their shares (rounded to 1e-6), largest first;
    empty lists for a row without a score."""
    order = residuals.top_k(contributions, k)
    names = np.asarray(SENSOR_NAMES, dtype=object)[order].tolist()
    shares = np.round(np.take_along_axis(contributions, order, axis=1), 6).tolist()
    return ([n if ok else [] for n, ok in zip(names, scored)], [s if ok else [] for s, ok in zip(shares, scored)])


def _naive(t: datetime) -> pd.Timestamp:
    return pd.Timestamp(utc(t)).tz_localize(None)
