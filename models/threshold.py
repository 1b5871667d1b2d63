"""Thresholds on the anomaly score: calibrated per asset, with pruning of tiny excursions."""

from __future__ import annotations

import numpy as np


def calibrate(scores: np.ndarray, quantile: float, factor: float) -> float:
    """The ``quantile`` of scores on normal (validation) data, times ``factor``: a margin
    above what normal behaviour reaches. Nonparametric: no distribution is assumed."""
    clean = scores[np.isfinite(scores)]
    if len(clean) == 0:
        raise ValueError("no finite scores to calibrate a threshold on")
    return float(np.quantile(clean, quantile) * factor)


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of consecutive True values."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def flag(scores: np.ndarray, threshold: float, min_duration: int = 1) -> np.ndarray:
    """Rows whose score exceeds the threshold, without runs shorter than ``min_duration``
    (a blip of a few rows is noise, not an event). NaN scores are never flagged."""
    flags = np.nan_to_num(scores, nan=-np.inf) > threshold
    if min_duration > 1:
        for start, end in runs(flags):
            if end - start < min_duration:
                flags[start:end] = False
    return flags
