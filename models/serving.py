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

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from features.compute import whole_assets
from models import instrument, residuals
from models.detector import Detector
from models.forecasting import FIELDS, LEVELS, Recalibration, forecast_fleet
from models.memo import ForecastMemo
from models.shipped import ShippedModel, detector_for
from schemas import ANOMALY_SCORES, SENSOR_FORECASTS, SENSOR_NAMES
from schemas.time import utc

# What scoring produces; the job adds the lineage columns.
SCORE_COLUMNS = ("asset_id", "interval_start", "score", "threshold", "exceeds", "is_anomaly", "top_sensors",
                 "top_contributions", "instrument_check", "instrument_sensor", "instrument_since")


# What the short forecast produces; the job adds lineage.
FORECAST_COLUMNS = ("asset_id", "sensor", "horizon", "issued_at", "target_start", "step_s", "steps_ahead", "forecast",
                    "actual", "lo80", "hi80", "lo95", "hi95", "scale80", "scale95", "limit_low", "limit_high",
                    "p_beyond_limit", "method")
# Operating limits: asset ("*": every asset) -> sensor -> (low, high), None where there is none.
Limits = dict[str, dict[str, tuple[float | None, float | None]]]
SHORT_METHOD = "ets_trained"  # bench/forecast.py's name for models.forecasting.forecast_short
# One pass makes both (``scored_and_forecast``): a row is a score or a forecast, as ``OUTPUT`` says.
OUTPUT = "output"
BOTH_COLUMNS = (OUTPUT, *SCORE_COLUMNS, *(c for c in FORECAST_COLUMNS if c not in SCORE_COLUMNS))


def score_schema():
    """The Spark schema of ``SCORE_COLUMNS`` (types from ``anomaly_scores``)."""
    from pyspark.sql.types import StructType

    fields = {f.name: f for f in ANOMALY_SCORES.spark_schema().fields}
    return StructType([fields[c] for c in SCORE_COLUMNS])


def forecast_schema():
    """The Spark schema of ``FORECAST_COLUMNS`` (types from ``sensor_forecasts``)."""
    from pyspark.sql.types import StructType

    fields = {f.name: f for f in SENSOR_FORECASTS.spark_schema().fields}
    return StructType([fields[c] for c in FORECAST_COLUMNS])


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

    def issues(self, every_s: int) -> pd.DatetimeIndex:
        """The issue times of short forecasts: the multiples of ``every_s`` (the prediction
        cycle) in (``scored_start``, ``end``] -- a live cycle issues one, at its end; a
        backfill one per cycle it covers, as the live cycles would have."""
        first = (pd.Timestamp(_naive(self.scored_start)).floor(f"{every_s}s") + pd.Timedelta(seconds=every_s))
        return pd.date_range(first, _naive(self.end), freq=f"{every_s}s")


def both_schema():
    """The Spark schema of ``BOTH_COLUMNS``: every column nullable (a score row has no forecast's)."""
    from pyspark.sql.types import StringType, StructField, StructType

    fields = {f.name: f for f in [*score_schema().fields, *forecast_schema().fields]}
    return StructType([StructField(OUTPUT, StringType(), False)]
                      + [StructField(c, fields[c].dataType, True) for c in BOTH_COLUMNS[1:]])


def scored_and_forecast(detector: Detector, rows: pd.DataFrame, grid: Grid, every_s: int,
                        limits: Limits | None = None, recalibration: Recalibration | None = None,
                        memo: ForecastMemo | None = None) -> list[pd.DataFrame]:
    """``score_frame`` and ``forecast_frame`` of the same rows (each asset put on the interval
    grid once), as frames of ``BOTH_COLUMNS`` (the other's columns empty); none empty."""
    on_grid = _assets_on_grid(detector, rows, grid.index())
    made = {"score": score_frame(detector, rows, grid, on_grid, memo),
            "forecast": forecast_frame(detector, rows, grid, every_s, limits, on_grid, recalibration)}
    return [frame.assign(**{OUTPUT: kind}, **{c: pd.Series([None] * len(frame), index=frame.index, dtype=object)
                                              for c in BOTH_COLUMNS[1:] if c not in frame.columns})[list(BOTH_COLUMNS)]
            for kind, frame in made.items() if len(frame)]


def _assets_on_grid(detector: Detector, rows: pd.DataFrame, index: pd.DatetimeIndex) -> dict[str, tuple]:
    """Per asset (in order): its rows on the grid ``index`` (a missing interval: an
    all-missing row; of two rows of one interval the first), the model's columns only,
    indexed by interval; and which grid intervals it has rows for. All assets placed at once."""
    columns = detector.spec.columns
    assets, asset_of = np.unique(rows["asset_id"].to_numpy(dtype=object), return_inverse=True)
    at = index.get_indexer(rows["interval_start"])
    on = np.flatnonzero(at >= 0)
    _, first = np.unique(asset_of[on] * len(index) + at[on], return_index=True)  # each cell's first row
    placed = on[first]
    values = np.full((len(assets), len(index), len(columns)), np.nan)
    values[asset_of[placed], at[placed]] = rows[columns].to_numpy(np.float64)[placed]
    has = np.zeros((len(assets), len(index)), dtype=bool)
    has[asset_of[placed], at[placed]] = True
    return {asset: (pd.DataFrame(values[i], index=index, columns=columns), has[i]) for i, asset in enumerate(assets)}


def score_frame(detector: Detector, rows: pd.DataFrame, grid: Grid,
                on_grid: dict[str, tuple] | None = None, memo: ForecastMemo | None = None) -> pd.DataFrame:
    """Feature rows of any assets (``asset_id``, naive-UTC ``interval_start``, the model's
    columns) -> ``SCORE_COLUMNS`` for the rows present in the scored range (``memo``: the
    forward pass's, ``models.memo``; none: every window forecast)."""
    index = grid.index()
    on_grid = on_grid if on_grid is not None else _assets_on_grid(detector, rows, index)
    scored_range = index >= _naive(grid.scored_start)
    frames = {asset: frame.reset_index(names="interval_start") for asset, (frame, _) in on_grid.items()}
    present = {asset: has & scored_range for asset, (_, has) in on_grid.items()}
    parts = []
    for asset, scored in detector.score_many(frames, memo).items():
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


def forecast_frame(detector: Detector, rows: pd.DataFrame, grid: Grid, every_s: int,
                   limits: Limits | None = None, on_grid: dict[str, tuple] | None = None,
                   recalibration: Recalibration | None = None) -> pd.DataFrame:
    """Feature rows of any assets (as ``score_frame``) -> ``FORECAST_COLUMNS``: each
    asset's short forecasts issued at ``grid.issues(every_s)``, every sensor, every step,
    their intervals recalibrated (``recalibration``: the stored ones each issue time may
    use; none: as trained), with the probability of being beyond the sensor's operating
    ``limits``; and the actual mean of each period of the cycle before each issue time
    (``steps_ahead`` 0), what the forecasts of it are compared with. Both depend only on
    the intervals before the issue time and the stored recalibrations (replay-safe)."""
    index, spec = grid.index(), detector.forecasts
    issues = grid.issues(every_s)
    positions = index.get_indexer(issues)
    positions = np.where(positions < 0, len(index), positions)  # an issue at the grid's end: after its last row
    on_grid = on_grid if on_grid is not None else _assets_on_grid(detector, rows, index)
    assets, readings, profiles = [], [], []
    for asset, (frame, _) in on_grid.items():
        forecasters, values = detector.calibration(asset).forecasters(), detector._readings(frame)
        if forecasters is not None and values is not None:
            assets.append(asset)
            readings.append(values)
            profiles.append(forecasters)
    if not assets or not len(positions):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FORECAST_COLUMNS})
    values = np.stack(readings)  # assets x rows x sensors: every asset on the same grid
    made = forecast_fleet(values, positions, profiles, spec,
                          _fleet_scales(recalibration or Recalibration(), assets, issues.to_numpy(), values.shape[2]))
    n_assets, n_issue, n_steps, n_sensors = made.mean.shape
    issue = np.tile(np.repeat(issues.to_numpy(), n_steps * n_sensors), n_assets)
    ahead = np.tile(np.repeat(np.arange(1, n_steps + 1), n_sensors), n_assets * n_issue)
    step = pd.Timedelta(seconds=grid.interval_s * spec.step)
    forecasts = pd.DataFrame({
        "asset_id": np.repeat(np.asarray(assets, dtype=object), n_issue * n_steps * n_sensors),
        "sensor": np.tile(np.asarray(SENSOR_NAMES, dtype=object), n_assets * n_issue * n_steps),
        "horizon": "short", "issued_at": issue, "target_start": issue + (ahead - 1) * step,
        "step_s": int(grid.interval_s * spec.step), "steps_ahead": ahead.astype(np.int32),
        **{name: np.broadcast_to(getattr(made, name), made.mean.shape).ravel() for name in FIELDS},
        "method": SHORT_METHOD,
    }).rename(columns={"mean": "forecast"})
    actuals = _actuals(assets, values, index, positions, every_s // grid.interval_s, spec.step, grid.interval_s)
    out = with_limits(pd.concat([forecasts, actuals], ignore_index=True), limits or {})[list(FORECAST_COLUMNS)]
    # a period with no data before it (the history all missing) has no forecast, one without data no actual
    return out[out["forecast"].notna() | out["actual"].notna()].reset_index(drop=True)


def _fleet_scales(recalibration: Recalibration, assets: list[str], issues: np.ndarray,
                  sensors: int) -> np.ndarray | None:
    """assets x issues x sensors x levels: each asset's stored recalibration per issue
    (1 where none); None where no asset has one."""
    per_asset = [recalibration.for_issues(a, issues, sensors) for a in assets]
    if all(s is None for s in per_asset):
        return None
    ones = np.ones((len(issues), sensors, len(LEVELS)))
    return np.stack([ones if s is None else s for s in per_asset])


def _actuals(assets: list[str], values: np.ndarray, index: pd.DatetimeIndex, positions: np.ndarray,
             cycle_rows: int, step: int, interval_s: int) -> pd.DataFrame:
    """The actual mean of each period (``step`` rows) of the cycle (``cycle_rows``) before
    each issue position, per asset (``values``: assets x rows x sensors): ``steps_ahead`` 0
    rows (none where a cycle is not whole periods)."""
    if cycle_rows % step:
        return pd.DataFrame()
    periods = cycle_rows // step
    rows = positions[:, None] - cycle_rows + np.arange(cycle_rows)[None, :]  # issues x cycle_rows
    n_assets, n_sensors = len(assets), values.shape[2]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(values[:, rows].reshape(n_assets, len(positions), periods, step, n_sensors), axis=3)
    target = np.tile(np.repeat(index[rows[:, ::step].ravel()].to_numpy(), n_sensors), n_assets)
    known = target + np.timedelta64(int(interval_s * step), "s")  # a period's actual is known at its end
    return pd.DataFrame({
        "asset_id": np.repeat(np.asarray(assets, dtype=object), len(positions) * periods * n_sensors),
        "sensor": np.tile(np.asarray(SENSOR_NAMES, dtype=object), n_assets * len(positions) * periods),
        "horizon": "short", "issued_at": known, "target_start": target,
        "step_s": int(interval_s * step), "steps_ahead": np.int32(0), "actual": means.ravel(),
        "method": SHORT_METHOD})


def with_limits(forecasts: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """``forecasts`` (``asset_id``, ``sensor``, ``forecast``, ``lo95``, ``hi95``) with each
    row's limits (the asset's own, else every asset's) and ``p_beyond_limit``."""
    from models.forecasting import beyond_limit

    def bound(i: int) -> np.ndarray:
        return np.array([(limits.get(a, {}).get(s) or limits.get("*", {}).get(s) or (None, None))[i]
                         for a, s in zip(forecasts["asset_id"], forecasts["sensor"])], dtype=np.float64)

    low, high = (bound(0), bound(1)) if limits else (np.full(len(forecasts), np.nan),) * 2
    p = beyond_limit(forecasts["forecast"].to_numpy(np.float64), forecasts["lo95"].to_numpy(np.float64),
                     forecasts["hi95"].to_numpy(np.float64), low, high) if len(forecasts) else low
    return forecasts.assign(limit_low=low, limit_high=high, p_beyond_limit=p)


def both_batches(batches: Iterator[pd.DataFrame], model: ShippedModel, grid: Grid, every_s: int,
                 limits: Limits, recalibration: Recalibration | None = None,
                 memo_dir: str | None = None) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` in each Spark Python worker: ``scored_and_forecast`` per batch of whole
    assets (``memo_dir``: where the forward pass's memo lives, ``models.memo``; none: off)."""
    detector = detector_for(model)
    memo = memo_of(detector, memo_dir)
    for frame in whole_assets(batches):
        yield from scored_and_forecast(detector, frame, grid, every_s, limits, recalibration, memo)


def score_batches(batches: Iterator[pd.DataFrame], model: ShippedModel, grid: Grid,
                  memo_dir: str | None = None) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` in each Spark Python worker: the shipped ``model``'s detector
    (unpacked once per process) over ``score_stream``."""
    detector = detector_for(model)
    return score_stream(batches, detector, grid, memo_of(detector, memo_dir))


def score_stream(batches: Iterator[pd.DataFrame], detector: Detector, grid: Grid,
                 memo: ForecastMemo | None = None) -> Iterator[pd.DataFrame]:
    """Batches of feature rows sorted by (asset, interval) -> scores. An asset's rows may
    span batches: each is scored once all its rows have arrived, and the assets complete
    in a batch are scored together (one batched forecast)."""
    for frame in whole_assets(batches):
        yield score_frame(detector, frame, grid, memo=memo)


def memo_of(detector: Detector, memo_dir: str | None) -> ForecastMemo | None:
    """The forward pass's memo of ``detector``'s network and scorer under ``memo_dir`` (None: off)."""
    return ForecastMemo.open(memo_dir, detector.onnx_graph(), detector.scorer) if memo_dir else None


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
