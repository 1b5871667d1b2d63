"""Feature drift against the training data: the population stability index (PSI).

At training, ``reference`` records per model input column the decile edges of the
training values and the share of training rows in each bin; it travels with the model
(``detector.json``). At prediction, ``psi`` compares the newest values with it:
below 0.1 is usually read as stable, 0.1-0.25 as a moderate shift, above 0.25 as drift.
numpy only.
"""

from __future__ import annotations

import numpy as np

BINS = 10
FLOOR = 1e-4  # an empty bin counts as this share (the PSI of an empty bin is infinite)


def reference(values: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """Inner bin edges (the training deciles, de-duplicated) and the training share per bin."""
    clean = values[np.isfinite(values)]
    if len(clean) == 0:
        return {"edges": [], "shares": [1.0]}
    edges = np.unique(np.quantile(clean, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = _counts(clean, edges)
    return {"edges": edges.tolist(), "shares": (counts / counts.sum()).tolist()}


def psi(ref: dict[str, list[float]], values: np.ndarray) -> float | None:
    """PSI of ``values`` against a ``reference``; None when there is no finite value."""
    clean = values[np.isfinite(values)]
    return psi_of_counts(ref, _counts(clean, np.asarray(ref["edges"])))


def of_columns(frame, references: dict[str, dict[str, list[float]]]) -> dict[str, tuple[float | None, float | None]]:
    """Per column with a reference: (PSI of ``frame``'s values, their mean); None where
    the column has no finite value. ``frame``: a pandas DataFrame holding the columns."""
    out = {}
    for c, ref in references.items():
        values = frame[c].to_numpy(np.float64)
        finite = values[np.isfinite(values)]
        out[c] = (psi(ref, finite), float(finite.mean()) if len(finite) else None)
    return out


def psi_of_counts(ref: dict[str, list[float]], counts: np.ndarray) -> float | None:
    """PSI from the number of new values in each reference bin."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return None
    expected = np.maximum(np.asarray(ref["shares"]), FLOOR)
    actual = np.maximum(counts / counts.sum(), FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many values fall in each bin (bin k: edges[k-1] <= v < edges[k])."""
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
