"""From forecasts to anomaly evidence (telemanom's "errors"): per-sensor errors, the
smoothed anomaly score and each sensor's contribution to it. numpy only."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

EPS = 1e-6


def signed_errors(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Forecast errors with their sign (actual - forecast) per row and model column. NaN
    actuals (missing readings) count as no error."""
    return np.nan_to_num(actual - predicted, nan=0.0)


def per_sensor(column_errors: np.ndarray, n_sensors: int) -> np.ndarray:
    """Absolute errors per sensor, (rows, sensors), from the signed errors per model
    column: a sensor with several input statistics gets their mean (NaN stays NaN)."""
    err = np.abs(column_errors)
    return err.reshape(len(err), n_sensors, -1).mean(axis=2)


def smooth(values: np.ndarray, rows: int) -> np.ndarray:
    """Trailing mean over the last ``rows`` rows (causal, so a live run and a replay agree);
    NaN rows are skipped; shorter histories use what they have. Each window is averaged on
    its own (no running sum), so a row's value is bit for bit the same whatever range it
    was computed in."""
    padded = np.concatenate([np.full((rows - 1, *values.shape[1:]), np.nan), values])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window gives NaN, as intended
        return np.nanmean(sliding_window_view(padded, rows, axis=0), axis=-1)


FIXED_SCALE = 2.0 ** 32  # the baseline's sums are exact integers in units of 2^-32
FIXED_LIMIT = 1e6  # errors are clipped to this before (far beyond any guard)


def _window_means(values: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the finite values of each ``rows``-row window of ``values`` (window t:
    rows t .. t + rows - 1) and how many there were. Summed in fixed point (int64, units of
    ``1 / FIXED_SCALE``) by differences of running sums: exact, so a window's mean is bit
    for bit the same whatever range it was computed in (a float running sum would not be),
    at O(1) per window instead of O(rows). An int64 running sum may wrap around; the
    difference of two is still the window's exact sum (modular arithmetic; the sum itself
    stays far inside int64)."""
    finite = np.isfinite(values)
    fixed = np.where(finite, np.rint(np.clip(values, -FIXED_LIMIT, FIXED_LIMIT) * FIXED_SCALE), 0.0).astype(np.int64)
    zero = np.zeros((1, *values.shape[1:]), dtype=np.int64)
    with np.errstate(over="ignore"):
        sums = np.cumsum(np.concatenate([zero, fixed]), axis=0)
        window_sums = sums[rows:] - sums[:-rows]
    counts = np.cumsum(np.concatenate([zero, finite.astype(np.int64)]), axis=0)
    window_counts = counts[rows:] - counts[:-rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        return window_sums / FIXED_SCALE / window_counts, window_counts


def debias(signed: np.ndarray, rows: int, guard: float, smoothing: int) -> np.ndarray:
    """Signed errors (rows x model columns) minus an adapting baseline with a guard: per
    column, the mean of its previous ``rows`` signed errors whose trailing ``smoothing``-row mean
    was within ``guard`` (training spreads). A small shift of the operating point is
    absorbed within ``rows`` rows; a large one (a fault) never enters the baseline, so it is
    never absorbed. Fewer than ``rows // 4`` such errors: no baseline (0). ``rows`` 0: the
    errors unchanged. The window means are exact (``_window_means``), so a row's value does
    not depend on where the computed range starts."""
    if rows <= 0:
        return signed
    recent = smooth(signed, smoothing)
    kept = np.where(np.abs(recent) < guard, signed, np.nan)
    padded = np.concatenate([np.full((rows, *signed.shape[1:]), np.nan), kept[:-1]])  # row t sees t-rows .. t-1
    base, seen = _window_means(padded, rows)
    base[seen < max(1, rows // 4)] = 0.0
    return signed - np.nan_to_num(base, nan=0.0)


def score(errors: np.ndarray, smoothing: int, scored: np.ndarray | Sequence[bool] | None = None,
          top_k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(score per row, contribution per row and sensor).

    Each sensor's squared error is smoothed over the last ``smoothing`` rows. Only the
    ``scored`` sensors (a boolean mask; default all) count: the others are covariates, read
    by the model but never evidence themselves (slow drifts such as temperatures). The
    score is the root mean square over the ``top_k`` largest smoothed errors of the scored
    sensors (default all of them): a fault shows in a few sensors, and averaging over all
    dilutes it. A sensor's contribution is its share of the scored smoothed squared error
    (the shares sum to 1; covariates get 0). The choices were made by the SKAB selection
    protocol (docs/model-notes.md)."""
    n_sensors = errors.shape[1]
    scored = np.ones(n_sensors, dtype=bool) if scored is None else np.asarray(scored, dtype=bool)
    k = int(scored.sum()) if top_k is None else min(top_k, int(scored.sum()))
    smoothed = np.where(scored, smooth(np.square(errors), smoothing), 0.0)
    total = smoothed.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        contributions = smoothed / total[:, None]
    largest = np.sort(smoothed, axis=1)[:, n_sensors - k:]
    return np.sqrt(largest.mean(axis=1)), contributions


def top_k(contributions: np.ndarray, k: int) -> np.ndarray:
    """Per row, the indices of the ``k`` largest contributions, largest first."""
    return np.argsort(-np.nan_to_num(contributions, nan=-1.0), axis=1, kind="stable")[:, :k]


def top_sensors(contributions: np.ndarray, names: list[str] | tuple[str, ...], k: int) -> list[list[str]]:
    """Per row, the ``k`` sensors with the largest contribution, largest first."""
    return np.asarray(names, dtype=object)[top_k(contributions, k)].tolist()
