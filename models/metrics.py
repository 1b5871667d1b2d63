"""Binary detection metrics as the SKAB outlier protocol defines them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    f1: float
    far: float  # false alarm rate, % of normal rows flagged
    mar: float  # missed alarm rate, % of anomalous rows not flagged
    rows: int

    def as_dict(self) -> dict[str, float]:
        return {"f1": round(self.f1, 4), "far": round(self.far, 2), "mar": round(self.mar, 2)}


def binary_scores(truth: np.ndarray, predicted: np.ndarray) -> Scores:
    """F1 = 2TP / (2TP + FP + FN), FAR = FP / (FP + TN), MAR = FN / (FN + TP)."""
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    if truth.shape != predicted.shape:
        raise ValueError(f"labels and predictions differ in shape: {truth.shape} vs {predicted.shape}")
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    fn = int(np.sum(truth & ~predicted))
    tn = int(np.sum(~truth & ~predicted))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    far = 100.0 * fp / (fp + tn) if fp + tn else 0.0
    mar = 100.0 * fn / (fn + tp) if fn + tp else 0.0
    return Scores(f1, far, mar, len(truth))
