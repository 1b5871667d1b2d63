"""Sensor forecasts: where each sensor is heading, with 80 % and 95 % prediction intervals.

Two horizons, each chosen by the rolling-origin backtest in ``bench/forecast.py``:

* **short** (every prediction cycle): the mean of each of the next ``steps`` periods of
  ``step`` intervals (15 one-minute means at the 1 s feature interval). The forecast is the
  level of an exponential smoothing (ETS(A,N,N)) run over the ``history`` intervals before
  the issue time, with the smoothing weight fitted per asset and sensor in training; the
  intervals are the quantiles of the errors the same forecast made in training at each
  step ahead (empirical: no distribution assumed). Pure numpy, vectorised over sensors and
  issue times: cheap enough for every cycle at 1,000 pumps, and a function of a fixed span
  of intervals before the issue time (replay-safe, as the scores are).
* **long** (hourly, ``long_forecast``): the next 24 hourly means from the hourly history,
  with statsforecast (Nixtla) models, refitted each hour.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

ALPHAS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
QUANTILES = (0.025, 0.1, 0.9, 0.975)  # lo95, lo80, hi80, hi95
WARM = 30  # the level starts at the mean of the window's first WARM intervals


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
    """One sensor of one asset: the smoothing weight and, per step ahead, the quantiles
    (``QUANTILES``) of actual - forecast in training."""

    alpha: float
    quantiles: tuple[tuple[float, ...], ...]  # steps x 4

    def to_json(self) -> dict:
        return {"alpha": self.alpha, "quantiles": [list(q) for q in self.quantiles]}

    @classmethod
    def from_json(cls, d: dict) -> ShortProfile:
        return cls(float(d["alpha"]), tuple(tuple(float(v) for v in q) for q in d["quantiles"]))


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
    error over every origin and step), and the quantiles of those misses per step. None
    when training is too short for two origins."""
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
        e = errors[:, :, s, b]
        with _quiet():
            q = np.nan_to_num(np.nanquantile(e, QUANTILES, axis=0).T)  # steps x 4
        profiles.append(ShortProfile(float(alphas[b]), tuple(tuple(row) for row in q)))
    return profiles


@dataclass(frozen=True)
class Forecast:
    """Per issue time, step and sensor: the forecast and its 80 % and 95 % intervals."""

    mean: np.ndarray  # issues x steps x sensors
    lo80: np.ndarray
    hi80: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray


def forecast_short(values: np.ndarray, origins: np.ndarray, profiles: list[ShortProfile],
                   spec: ShortSpec) -> Forecast:
    """The short forecasts issued at ``origins`` (row positions in ``values``, each with
    ``history`` rows before it) for the sensors of ``profiles`` (columns of ``values``)."""
    back = origins[:, None] - spec.history + np.arange(spec.history)[None, :]
    level = levels(values[back], np.array([p.alpha for p in profiles]))  # issues x sensors
    q = np.array([p.quantiles for p in profiles]).transpose(1, 0, 2)  # steps x sensors x 4
    mean = np.repeat(level[:, None, :], spec.steps, axis=1)
    return Forecast(mean, mean + q[..., 1], mean + q[..., 2], mean + q[..., 0], mean + q[..., 3])


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
    import pandas as pd
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
            out[str(key)] = Forecast(mean, lo80, hi80, lo95, hi95)
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
