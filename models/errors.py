"""From forecasts to anomaly evidence (telemanom's "errors"): per-sensor errors, their
scale, the smoothed anomaly score and each sensor's contribution to it. numpy only."""

from __future__ import annotations

import numpy as np
import pandas as pd

EPS = 1e-6


def sensor_errors(predicted: np.ndarray, actual: np.ndarray, n_sensors: int) -> np.ndarray:
    """Absolute forecast errors per sensor, (rows, sensors): a sensor with several input
    statistics gets their mean. NaN actuals (missing readings) count as no error."""
    err = np.abs(np.nan_to_num(actual - predicted, nan=0.0))
    return err.reshape(len(err), n_sensors, -1).mean(axis=2)


def error_scale(errors: np.ndarray) -> np.ndarray:
    """Typical size of each sensor's error on data the model was not fitted on: the mean
    absolute error. Dividing by it puts every sensor on the same footing, so a sensor that
    is simply hard to forecast does not drown the others."""
    return np.maximum(np.nanmean(errors, axis=0), EPS) if len(errors) else np.ones(errors.shape[1])


def smooth(values: np.ndarray, rows: int) -> np.ndarray:
    """Trailing mean over the last ``rows`` rows (causal, so a live run and a replay agree);
    NaN rows are skipped; shorter histories use what they have."""
    return pd.DataFrame(values).rolling(rows, min_periods=1).mean().to_numpy()


def score(scaled: np.ndarray, smoothing: int) -> tuple[np.ndarray, np.ndarray]:
    """(score per row, contribution per row and sensor). The score is the mean over sensors
    of the smoothed scaled errors; contributions are their shares (summing to 1)."""
    smoothed = smooth(scaled, smoothing)
    total = smoothed.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        contributions = smoothed / total[:, None]
    return total / scaled.shape[1], contributions


def top_sensors(contributions: np.ndarray, names: list[str] | tuple[str, ...], k: int) -> list[list[str]]:
    """Per row, the ``k`` sensors with the largest contribution, largest first."""
    order = np.argsort(-np.nan_to_num(contributions, nan=-1.0), axis=1, kind="stable")[:, :k]
    return [[names[i] for i in row] for row in order]
