"""One picture of one asset: its signals, its anomaly score against the threshold, and the
detected intervals against the true ones (green detected, red false alarm, orange missed).
Used by the SKAB evaluation and by ``sensorwatch plot`` (the demo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def asset_plot(signals: pd.DataFrame, scores: pd.DataFrame, truth: np.ndarray, flags: np.ndarray,
               title: str, path: Path, divider=None) -> Path:
    """``signals``: one column per sensor, indexed by time (plotted as given); ``scores``:
    columns time, score, threshold; ``truth``/``flags``: booleans on ``signals``' index.
    ``divider``: a time to mark with a dashed line (e.g. the end of the training data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = signals.index
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(12, 8), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1]})
    for name in signals.columns:
        ax1.plot(t, signals[name], lw=0.7, label=name)
    if divider is not None:
        ax1.axvline(divider, color="k", ls="--", lw=0.8)
    ax1.set_ylabel("standardised")
    ax1.legend(fontsize=6, ncol=4, loc="upper left")
    ax1.set_title(title)
    ax2.plot(scores["time"], scores["score"], lw=0.8, label="score")
    ax2.plot(scores["time"], scores["threshold"], color="r", lw=0.8, label="threshold")
    ax2.set_ylabel("anomaly score")
    ax2.legend(fontsize=7, loc="upper left")
    for mask, color, label in ((truth & flags, "tab:green", "detected"), (~truth & flags, "tab:red", "false alarm"),
                               (truth & ~flags, "tab:orange", "missed")):
        ax3.fill_between(t, 0, 1, where=mask, color=color, step="mid", label=label, lw=0)
    ax3.set_yticks([])
    ax3.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
