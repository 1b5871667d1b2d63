"""Thresholds on the anomaly score: calibrated per asset; exceedances confirmed by duration.

A row *exceeds* when its score is above the asset's threshold. Short excursions are
noise, so an anomaly needs ``min_duration`` consecutive exceeding rows:

* ``confirmed`` (live, causal): a row is an anomaly once the exceedance has lasted
  ``min_duration`` rows up to it. It depends only on the past, so a live run, a re-run
  and a backfill flag the same rows; this is ``is_anomaly`` in ``anomaly_scores``.
* ``flag`` (hindsight): every row of an exceedance run of at least ``min_duration`` rows,
  its onset included. These are the rows an anomaly event spans once it is known (the
  events table reports the onset) and what the SKAB evaluation scores.
"""

from __future__ import annotations

import numpy as np


def _finite(scores: np.ndarray) -> np.ndarray:
    clean = np.asarray(scores, dtype=np.float64)
    clean = clean[np.isfinite(clean)]
    if len(clean) == 0:
        raise ValueError("no finite scores to calibrate a threshold on")
    return clean


def quantile_factor(scores: np.ndarray, quantile: float, factor: float) -> float:
    """The ``quantile`` of scores on normal (calibration) data, times ``factor``: a margin
    above what normal behaviour reaches. Nonparametric: no distribution is assumed."""
    return float(np.quantile(_finite(scores), quantile) * factor)


def spread(scores: np.ndarray, k: float) -> float:
    """The median of the calibration scores plus ``k`` times their spread (95 % quantile
    minus median): a margin measured in units of how much normal scores vary, not of
    their level. Where normal scores vary little around a level far from zero (an RMS of
    standardised errors sits near 1), a factor on the level is a cliff; a margin in
    units of the spread moves the threshold proportionately less."""
    clean = _finite(scores)
    median, q95 = np.quantile(clean, [0.5, 0.95])
    return float(median + k * (q95 - median))


def conformal(scores: np.ndarray, alpha: float) -> float:
    """Split-conformal limit for a false-alarm budget ``alpha``: the ceil((n + 1)(1 - alpha))-th
    smallest of n calibration scores. A new normal score exceeds it with probability at
    most ``alpha`` when the scores are exchangeable (smoothed scores are not quite: they
    are autocorrelated). A budget below 1 / (n + 1) needs more calibration rows."""
    clean = np.sort(_finite(scores))
    k = int(np.ceil((len(clean) + 1) * (1 - alpha)))
    if not 0 < alpha < 1 or k > len(clean):
        raise ValueError(f"{len(clean)} calibration scores cannot support a false-alarm budget of {alpha}")
    return float(clean[k - 1])


def pot(scores: np.ndarray, risk: float, initial_quantile: float = 0.8) -> float:
    """Peaks over threshold (extreme value theory, as SPOT initialises it, Siffer et al.
    2017): a generalised Pareto tail fitted to the calibration scores above their
    ``initial_quantile``, and the score that tail exceeds with probability ``risk``.
    The tail is fitted by the method of moments (stable on the few peaks of a short
    calibration); a one-parameter rule that extrapolates beyond the largest score seen."""
    clean = _finite(scores)
    t = float(np.quantile(clean, initial_quantile))
    peaks = clean[clean > t] - t
    if len(peaks) < 3 or not 0 < risk < 1:
        raise ValueError(f"{len(peaks)} peaks above the {initial_quantile} quantile: too few to fit a tail")
    m, v = float(peaks.mean()), float(peaks.var())
    if v <= 0:
        return t + m
    gamma = 0.5 * (1.0 - m * m / v)
    sigma = 0.5 * m * (m * m / v + 1.0)
    r = risk * len(clean) / len(peaks)
    if abs(gamma) < 1e-9:
        return float(t - sigma * np.log(r))
    return float(t + sigma / gamma * (r ** (-gamma) - 1.0))


RULES = {"quantile_factor", "spread", "conformal", "pot"}


def calibrate(scores: np.ndarray, rule: str, param: float, quantile: float = 0.95) -> float:
    """The asset's threshold from its calibration scores by the named rule and its one
    parameter (``quantile_factor``: the factor on the ``quantile``; ``spread``: the
    margin in spreads above the median; ``conformal``: the
    false-alarm budget; ``pot``: the tail risk)."""
    if rule == "quantile_factor":
        return quantile_factor(scores, quantile, param)
    if rule == "spread":
        return spread(scores, param)
    if rule == "conformal":
        return conformal(scores, param)
    if rule == "pot":
        return pot(scores, param)
    raise ValueError(f"unknown threshold rule {rule!r}; one of {sorted(RULES)}")


def dynamic(scores: np.ndarray, z_values: np.ndarray = np.arange(2.0, 10.5, 0.5)) -> float:
    """telemanom's nonparametric dynamic threshold (Hundman et al. 2018) over a series of
    smoothed scores: of the limits mean + z * std, the one whose removal of the values
    above it lowers the mean and std the most per flagged value and sequence. It reads the
    scored series itself (no calibration rows), so a live run and a replay of a different
    range may choose different limits."""
    clean = _finite(scores)
    mean, std = clean.mean(), clean.std()
    best, best_value = float(mean + z_values[-1] * std), -np.inf
    for z in z_values:
        limit = mean + z * std
        below = clean[clean < limit]
        above = np.asarray(scores, dtype=np.float64) > limit
        n_above = int(above.sum())
        if n_above == 0 or len(below) == 0:
            continue
        n_seq = len(runs(above))
        value = ((mean - below.mean()) / mean + (std - below.std()) / std) / (n_above + n_seq ** 2)
        if value > best_value:
            best, best_value = float(limit), value
    return best


def exceeds(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Rows whose score is above the threshold (NaN scores never are)."""
    return np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf) > threshold


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of consecutive True values."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def flag(scores: np.ndarray, threshold: float, min_duration: int = 1) -> np.ndarray:
    """Hindsight: the exceeding rows, without runs shorter than ``min_duration``."""
    flags = exceeds(scores, threshold)
    if min_duration > 1:
        for start, end in runs(flags):
            if end - start < min_duration:
                flags[start:end] = False
    return flags


def confirmed(exceeding: np.ndarray, min_duration: int = 1) -> np.ndarray:
    """Causal: rows that end ``min_duration`` consecutive exceeding rows."""
    out = np.zeros(len(exceeding), dtype=bool)
    for start, end in runs(np.asarray(exceeding, dtype=bool)):
        if end - start >= min_duration:
            out[start + min_duration - 1:end] = True
    return out
