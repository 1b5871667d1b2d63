"""Covariates as evidence only when they leave what training saw, fast.

The slow-drift sensors (the temperatures) are covariates: model inputs whose forecast
error is no evidence, because they wander over an experiment without a fault. So a fault
that shows only in them (hot water supplied to the circuit) could never be flagged. This
makes a covariate evidence when it does what a drift does not: it is **both** beyond its
training range by a multiple of that range **and** changing, over ``LAG`` rows, by a
multiple of the largest change over ``LAG`` rows in training. A warm-up leaves the range
slowly; a drift changes slowly within it; a hot-water supply does both at once.

Evidence is ``min(excess, change)``, each in units of its training yardstick; the
detector compares the largest over the covariates with ``covariate_limit``
(``models.spec``), chosen on the SKAB files and the simulator's kinds (docs/model-notes.md).
numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAG = 60  # rows over which a covariate's change is measured (1 min at 1 Hz)
EPS = 1e-6


@dataclass(frozen=True)
class CovariateRange:
    """What training saw of each covariate (lists, one value per covariate)."""

    low: list[float]
    high: list[float]
    change: list[float]  # the largest |x[t] - x[t - LAG]| in training


def changes(values: np.ndarray) -> np.ndarray:
    """|x[t] - x[t - LAG]| per row and covariate (NaN for the first ``LAG`` rows)."""
    out = np.full(values.shape, np.nan)
    out[LAG:] = np.abs(values[LAG:] - values[:-LAG])
    return out


def fit(values: np.ndarray) -> CovariateRange:
    """The training rows' covariate values (rows x covariates) -> their range and their
    largest change over ``LAG`` rows (0 where training is shorter than ``LAG`` rows)."""
    change = np.nan_to_num(np.nanmax(changes(values), axis=0, initial=0.0), nan=0.0)
    return CovariateRange(np.nanmin(values, axis=0).tolist(), np.nanmax(values, axis=0).tolist(), change.tolist())


def evidence(values: np.ndarray, seen: CovariateRange) -> np.ndarray:
    """Per row and covariate, how far it is beyond training, in training's units:
    min(distance outside [low, high] / (high - low), change over ``LAG`` rows / training's
    largest change). 0 inside the range, in the first ``LAG`` rows and where a value is
    missing."""
    low, high = np.asarray(seen.low), np.asarray(seen.high)
    span = np.maximum(high - low, EPS)
    excess = np.maximum(np.maximum(values - high, low - values), 0.0) / span
    moving = changes(values) / np.maximum(np.asarray(seen.change), EPS)
    return np.nan_to_num(np.minimum(excess, moving), nan=0.0)  # minimum: a NaN stays NaN, then 0
