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


def calibrate(scores: np.ndarray, quantile: float, factor: float) -> float:
    """The ``quantile`` of scores on normal (validation) data, times ``factor``: a margin
    above what normal behaviour reaches. Nonparametric: no distribution is assumed."""
    clean = scores[np.isfinite(scores)]
    if len(clean) == 0:
        raise ValueError("no finite scores to calibrate a threshold on")
    return float(np.quantile(clean, quantile) * factor)


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
