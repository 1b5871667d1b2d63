"""Sensor forecasts: where each sensor is heading, with 80 % and 95 % prediction intervals.

Two horizons, each chosen by the rolling-origin backtest in ``bench/forecast.py``:

* **short** (every prediction cycle): the mean of each of the next ``steps`` periods of
  ``step`` intervals (15 one-minute means at the 1 s feature interval). The forecast is the
  level of an exponential smoothing (ETS(A,N,N)) run over the ``history`` intervals before
  the issue time, with the smoothing weight fitted per asset and sensor in training; the
  intervals are the forecast plus and minus the 80 % and 95 % quantiles of the absolute
  errors the same forecast made in training at each step ahead (empirical: no
  distribution assumed; symmetric, so a trend in the training hours does not carry into
  every later interval). Pure numpy, vectorised over sensors and issue times: cheap
  enough for every cycle at 1,000 pumps, and a function of a fixed span of intervals
  before the issue time (replay-safe, as the scores are).
* **long** (hourly, ``long_forecast``): the next 24 hourly means from the hourly history,
  with statsforecast (Nixtla) models, refitted each hour.

**Recalibrated from what came** (both horizons): a forecast's interval, as trained or as
the model gives it, is widened or narrowed by a factor per asset, sensor, horizon and
level (``scale80``, ``scale95``): the quantile, at the interval's level, of how far the
matured forecasts of the last hours reached in units of their own unscaled half-width
(``reach``, ``calibrated_scale``; 1 with fewer than ``MIN_MATURED`` of them). The store
computes it hourly over the stored forecasts and actuals (``sensorwatch forecast``); the
backtest (``bench/forecast.py``) computes the same quantiles in numpy.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

ALPHAS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
LEVELS = (0.8, 0.95)  # the prediction intervals' nominal coverage
WARM = 30  # the level starts at the mean of the window's first WARM intervals
MIN_MATURED = 30  # matured forecasts a recalibration needs (fewer: scale 1)
TINY = 1e-12  # a half-width never divides by less
CALIBRATION_LAG_S = 3600  # a short forecast uses the newest recalibration computed at least this long before it


@dataclass(frozen=True)
class ShortSpec:
    history: int = 240  # intervals before the issue time the level is smoothed over (<= the model's lookback)
    step: int = 60  # intervals per forecast period (one minute at 1 s)
    steps: int = 15  # periods ahead
    origin_every: int = 60  # training: an origin every this many intervals

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ShortProfile:
    """One sensor of one asset: the smoothing weight and, per step ahead, the half-widths
    of its intervals (per ``LEVELS``: that quantile of |actual - forecast| in training)."""

    alpha: float
    half_widths: tuple[tuple[float, ...], ...]  # steps x LEVELS

    def to_json(self) -> dict:
        return {"alpha": self.alpha, "half_widths": [list(w) for w in self.half_widths]}

    @classmethod
    def from_json(cls, d: dict) -> ShortProfile:
        if "half_widths" not in d:  # a model trained before: signed quantiles (2.5, 10, 90, 97.5 %) per step
            return cls(float(d["alpha"]), tuple(((q[2] - q[1]) / 2, (q[3] - q[0]) / 2) for q in d["quantiles"]))
        return cls(float(d["alpha"]), tuple(tuple(float(v) for v in w) for w in d["half_widths"]))


def levels(windows: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The smoothed level at the end of each window: ``windows`` is origins x history x
    sensors (NaN: missing, the level is kept), ``alpha`` one weight per sensor (or per
    alpha tried: broadcast on the last axis). The level starts at the mean of the first
    ``WARM`` readings (or the first reading seen)."""
    with _quiet():
        level = np.nanmean(windows[:, :WARM], axis=1)
    for i in range(WARM, windows.shape[1]):
        x = windows[:, i]
        seen = np.isfinite(x) & np.isfinite(level)
        level = np.where(seen, level + alpha * (x - level), np.where(np.isfinite(level), level, x))
    return level


@contextmanager
def _quiet() -> Iterator[None]:
    """No RuntimeWarning for the mean of an all-missing slice (NaN is the answer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def windows_and_targets(values: np.ndarray, origins: np.ndarray, spec: ShortSpec) -> tuple[np.ndarray, np.ndarray]:
    """For each origin o (an issue time: the rows before o are known): the ``history``
    rows before it, and the means of the ``steps`` periods of ``step`` rows from o on
    (origins x history x sensors, origins x steps x sensors)."""
    back = origins[:, None] - spec.history + np.arange(spec.history)[None, :]
    ahead = origins[:, None, None] + np.arange(spec.steps)[None, :, None] * spec.step + np.arange(spec.step)
    with _quiet():
        targets = np.nanmean(values[ahead], axis=2)
    return values[back], targets


def fit_short(values: np.ndarray, spec: ShortSpec) -> list[ShortProfile] | None:
    """Per sensor (column of ``values``: one asset's training rows on the interval grid,
    oldest first): the weight whose forecasts missed the step means least (mean absolute
    error over every origin and step), and the ``LEVELS`` quantiles of those misses' sizes
    per step. None when training is too short for two origins."""
    first, last = spec.history, len(values) - spec.step * spec.steps
    origins = np.arange(first, last + 1, spec.origin_every)
    if len(origins) < 2:
        return None
    windows, targets = windows_and_targets(values, origins, spec)
    alphas = np.asarray(ALPHAS)
    tried = levels(windows[..., None], alphas)  # origins x sensors x alphas
    errors = targets[..., None] - tried[:, None]  # origins x steps x sensors x alphas
    with _quiet():
        mae = np.nanmean(np.abs(errors), axis=(0, 1))  # sensors x alphas
    best = np.argmin(np.nan_to_num(mae, nan=np.inf), axis=1)
    profiles = []
    for s, b in enumerate(best):
        with _quiet():
            half = np.nan_to_num(np.nanquantile(np.abs(errors[:, :, s, b]), LEVELS, axis=0).T)  # steps x LEVELS
        profiles.append(ShortProfile(float(alphas[b]), tuple(tuple(row) for row in half)))
    return profiles


@dataclass(frozen=True)
class Forecast:
    """Per issue time, step and sensor: the forecast, its 80 % and 95 % intervals and the
    factors their half-widths were recalibrated by (1: as trained or fitted)."""

    mean: np.ndarray  # issues x steps x sensors
    lo80: np.ndarray
    hi80: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray
    scale80: np.ndarray | float = 1.0  # broadcast to mean's shape
    scale95: np.ndarray | float = 1.0

    def scaled(self, scale80: np.ndarray | float, scale95: np.ndarray | float) -> Forecast:
        """The intervals' half-widths (each side's) times the factors (the factors so far
        replaced: they apply to the unscaled widths)."""
        def side(bound: np.ndarray, old: np.ndarray | float, new: np.ndarray | float) -> np.ndarray:
            return self.mean + (bound - self.mean) / old * new
        shape = np.shape(self.mean)
        return Forecast(self.mean, side(self.lo80, self.scale80, scale80), side(self.hi80, self.scale80, scale80),
                        side(self.lo95, self.scale95, scale95), side(self.hi95, self.scale95, scale95),
                        np.broadcast_to(scale80, shape), np.broadcast_to(scale95, shape))


def forecast_short(values: np.ndarray, origins: np.ndarray, profiles: list[ShortProfile],
                   spec: ShortSpec, scales: np.ndarray | None = None) -> Forecast:
    """The short forecasts issued at ``origins`` (row positions in ``values``, each with
    ``history`` rows before it) for the sensors of ``profiles`` (columns of ``values``);
    ``scales`` (issues x sensors x LEVELS, default 1): the recalibration of each issue's
    intervals."""
    made = forecast_fleet(values[None], origins, [profiles], spec, None if scales is None else scales[None])
    return Forecast(*(np.broadcast_to(getattr(made, f), made.mean.shape)[0] for f in FIELDS))


FIELDS = ("mean", "lo80", "hi80", "lo95", "hi95", "scale80", "scale95")  # a Forecast's arrays


def forecast_fleet(values: np.ndarray, origins: np.ndarray, profiles: list[list[ShortProfile]], spec: ShortSpec,
                   scales: np.ndarray | None = None) -> Forecast:
    """``forecast_short`` for many assets on one grid at once (one smoothing pass for all:
    the same arithmetic per element, so the same bits as one asset at a time): ``values``
    assets x rows x sensors, ``profiles`` per asset, ``scales`` assets x issues x sensors x
    LEVELS; the Forecast's arrays get a leading assets axis."""
    back = origins[:, None] - spec.history + np.arange(spec.history)[None, :]
    n_assets, n_issues, n_sensors = len(values), len(origins), values.shape[2]
    windows = values[:, back].reshape(n_assets * n_issues, spec.history, n_sensors)
    alpha = np.repeat(np.array([[p.alpha for p in per] for per in profiles]), n_issues, axis=0)
    level = levels(windows, alpha).reshape(n_assets, n_issues, n_sensors)
    half = np.array([[p.half_widths for p in per] for per in profiles]).transpose(0, 2, 1, 3)  # a x steps x s x L
    mean = np.repeat(level[:, :, None, :], spec.steps, axis=2)  # assets x issues x steps x sensors
    h80, h95 = half[:, None, ..., 0], half[:, None, ..., 1]
    made = Forecast(mean, mean - h80, mean + h80, mean - h95, mean + h95)
    return made if scales is None else made.scaled(scales[:, :, None, :, 0], scales[:, :, None, :, 1])


def reach(actual: np.ndarray, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray,
          scale: np.ndarray | float = 1.0) -> np.ndarray:
    """How far each matured forecast's actual landed from the forecast, in units of the
    interval's unscaled half-width on that side (``scale``: the factor it was issued
    with): <= 1 inside the interval as trained. NaN where there is no actual."""
    up = actual >= mean
    half = np.where(up, hi - mean, mean - lo) / np.maximum(scale, TINY)  # a factor of 0: a zero-width interval
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(actual - mean) / np.maximum(half, TINY)


@dataclass(frozen=True)
class Recalibration:
    """Stored recalibrations (``forecast_calibration`` rows of one horizon) by the hour they
    were computed for; what forecasts issued at given times use: the newest computed at
    least ``lag`` before the issue (the hourly job has that long to write it, so a live
    cycle and a later replay of it use the same one)."""

    at: tuple[np.datetime64, ...] = ()  # ascending, naive UTC
    scales: tuple[dict[str, np.ndarray], ...] = ()  # per time: asset -> sensors x LEVELS
    lag: np.timedelta64 = np.timedelta64(CALIBRATION_LAG_S, "s")

    @classmethod
    def of_rows(cls, rows: pd.DataFrame, sensors: tuple[str, ...], lag_s: int = CALIBRATION_LAG_S) -> Recalibration:
        """Rows of ``asset_id``, ``sensor``, ``calibrated_at`` (naive UTC), ``scale80``,
        ``scale95``; a sensor without a row gets 1."""
        at, scales = [], []
        position = {s: i for i, s in enumerate(sensors)}
        for when, group in rows.groupby("calibrated_at", sort=True):
            per_asset: dict[str, np.ndarray] = {}
            for row in group.itertuples(index=False):
                if row.sensor in position:
                    per_asset.setdefault(row.asset_id, np.ones((len(sensors), len(LEVELS))))[position[row.sensor]] = \
                        (row.scale80, row.scale95)
            at.append(np.datetime64(pd.Timestamp(when), "s"))
            scales.append(per_asset)
        return cls(tuple(at), tuple(scales), np.timedelta64(lag_s, "s"))

    def for_issues(self, asset: str, issues: np.ndarray, sensors: int) -> np.ndarray | None:
        """issues x sensors x LEVELS for one asset's issue times (naive UTC); None where
        none of them has a recalibration (the intervals as trained)."""
        if not self.at:
            return None
        which = np.searchsorted(np.asarray(self.at), np.asarray(issues, dtype="datetime64[s]") - self.lag,
                                side="right") - 1
        ones = np.ones((sensors, len(LEVELS)))
        out = np.stack([self.scales[w].get(asset, ones) if w >= 0 else ones for w in which])
        return None if np.all(out == 1.0) else out


def calibrated_scale(reaches: np.ndarray, level: float, minimum: int = MIN_MATURED) -> float:
    """The factor that makes ``level`` of these matured forecasts' intervals cover their
    actuals: the ``level`` quantile of their ``reach`` (1 with fewer than ``minimum``).
    The store's ``percentile`` computes the same (``statements.forecast_calibration``)."""
    r = np.asarray(reaches, dtype=np.float64)
    r = r[np.isfinite(r)]
    return float(np.quantile(r, level)) if len(r) >= minimum else 1.0


# ---- long horizon: hourly, statsforecast ---------------------------------------------
LONG_STEPS = 24  # hours ahead
DAY = 24  # the season of hourly data


def long_models(method: str, history: int):
    """The statsforecast model for ``method`` given ``history`` hourly points (a daily
    season only with two days of history)."""
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    season = DAY if history >= 2 * DAY else 1
    return {"seasonal_naive": lambda: SeasonalNaive(season_length=season),
            "auto_ets": lambda: AutoETS(season_length=season),
            "auto_theta": lambda: AutoTheta(season_length=season)}[method]()


def long_forecast(series: dict[str, np.ndarray], method: str, steps: int = LONG_STEPS) -> dict[str, Forecast]:
    """Hourly histories (id -> values, oldest first, NaN: a missing hour) -> the next
    ``steps`` hours of each (issues = 1, sensors = 1). A history shorter than 3 points
    gets no forecast."""
    from statsforecast import StatsForecast

    frames = []
    for key, y in series.items():
        y = np.asarray(y, dtype=np.float64)
        if np.isfinite(y).sum() < 3:
            continue
        y = pd.Series(y).interpolate(limit_direction="both").to_numpy()
        frames.append(pd.DataFrame({"unique_id": key, "ds": np.arange(len(y)), "y": y}))
    if not frames:
        return {}
    out: dict[str, Forecast] = {}
    by_length: dict[int, list] = {}
    for f in frames:
        by_length.setdefault(len(f), []).append(f)
    for length, group in by_length.items():
        model = long_models(method, length)
        name = type(model).__name__
        result = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(
            df=pd.concat(group, ignore_index=True), h=steps, level=[80, 95])
        for key, rows in result.groupby("unique_id", sort=False):
            cols = [name, f"{name}-lo-80", f"{name}-hi-80", f"{name}-lo-95", f"{name}-hi-95"]
            mean, lo80, hi80, lo95, hi95 = (rows[c].to_numpy(np.float64)[None, :, None] for c in cols)
            # an interval holds its forecast (AutoTheta's can sit a rounding error beside it on a noiseless series)
            out[str(key)] = Forecast(mean, np.minimum(lo80, mean), np.maximum(hi80, mean), np.minimum(lo95, mean),
                                     np.maximum(hi95, mean))
    return out


def beyond_limit(mean: np.ndarray, lo95: np.ndarray, hi95: np.ndarray, low: np.ndarray,
                 high: np.ndarray) -> np.ndarray:
    """The probability that a period's mean is below ``low`` or above ``high`` (NaN: no such
    limit), reading the forecast as a normal distribution on each side with the spread its
    95 % interval has on that side (the intervals may be skewed). NaN where the sensor has
    no limit at all or no forecast."""
    from scipy.special import ndtr

    z95 = 1.959964
    with np.errstate(divide="ignore", invalid="ignore"):
        above = 1.0 - ndtr((high - mean) / np.maximum((hi95 - mean) / z95, 1e-12))
        below = ndtr((low - mean) / np.maximum((mean - lo95) / z95, 1e-12))
    p = np.nan_to_num(above, nan=0.0) + np.nan_to_num(below, nan=0.0)
    return np.where(np.isfinite(mean) & (np.isfinite(low) | np.isfinite(high)), np.clip(p, 0.0, 1.0), np.nan)
