"""Rolling statistics and gap flags of interval rows, in numpy (no Spark).

Called by ``features.compute.features_frame`` for any number of assets at once. Each
window is computed on its own (no running sums), so a row's values depend only on the K
intervals it covers, bit for bit, whatever range the rows were computed in and whichever
other assets were computed with it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from schemas.features import ROLLING_STATS, FeatureSpec, column

IX = "_ix"  # interval index: floor(epoch seconds / interval_s)


def rolling_stats(rows: pd.DataFrame, spec: FeatureSpec, sensors: tuple[str, ...]) -> pd.DataFrame:
    """``rows``: intervals (``asset_id``, ``_ix``, ``<sensor>__mean`` ...; without ``asset_id``:
    one asset), any order, unique per asset. Returns them sorted by asset and ``_ix`` with ``missing_intervals``,
    ``after_gap`` and, per sensor, ``roll_mean``, ``roll_std``, ``zscore`` and ``slope`` over
    the asset's last K intervals."""
    k = spec.rolling_intervals
    keys = ["asset_id", IX] if "asset_id" in rows.columns else [IX]  # no asset_id: one asset
    rows = rows.sort_values(keys, kind="stable").reset_index(drop=True)
    ix = rows[IX].to_numpy(dtype=np.int64)
    if len(ix) == 0:
        return rows.assign(missing_intervals=np.int32(0), after_gap=False,
                           **{column(s, st.name): np.nan for s in sensors for st in ROLLING_STATS})
    assets = rows["asset_id"].to_numpy() if "asset_id" in rows.columns else np.zeros(len(ix), dtype=np.int8)
    pos = _grid_positions(assets, ix, k)
    present = np.zeros(pos[-1] + 1, dtype=bool)
    present[pos] = True
    window_of_row = pos - (k - 1)
    out = {
        "missing_intervals": (k - sliding_window_view(present, k)[window_of_row].sum(axis=1)).astype(np.int32),
        "after_gap": ~present[pos - 1],
    }
    x = np.arange(k, dtype=np.float64) * spec.interval_s  # seconds from the window's start
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing windows give NaN, as intended
        for s in sensors:
            mean = rows[column(s, "mean")].to_numpy(dtype=np.float64)
            grid = np.full(len(present), np.nan)
            grid[pos] = mean
            w = sliding_window_view(grid, k)[window_of_row]  # (rows, K)
            roll_mean = np.nanmean(w, axis=1)
            roll_std = np.nanstd(w, axis=1, ddof=1)
            roll_std[np.sum(~np.isnan(w), axis=1) < 2] = np.nan
            xs = np.where(np.isnan(w), np.nan, x)
            dx = xs - np.nanmean(xs, axis=1, keepdims=True)
            var_x = np.nansum(dx * dx, axis=1)
            slope = np.nansum(dx * (w - roll_mean[:, None]), axis=1) / var_x
            slope[var_x == 0] = np.nan
            out[column(s, "roll_mean")] = roll_mean
            out[column(s, "roll_std")] = roll_std
            out[column(s, "zscore")] = np.where(roll_std > 0, (mean - roll_mean) / roll_std, np.nan)
            out[column(s, "slope")] = slope
    return rows.assign(**out)


def _grid_positions(assets: np.ndarray, ix: np.ndarray, k: int) -> np.ndarray:
    """Each row's place on one dense grid shared by all assets: an asset's segment runs from
    K-1 empty intervals before its first row to its last row, so window w covers grid[w :
    w + K] (ending at grid position w + K - 1) and never reaches into another asset's
    segment. ``assets``/``ix``: sorted by asset, then interval."""
    first = np.r_[True, assets[1:] != assets[:-1]]  # the first row of each asset
    segment = np.cumsum(first) - 1
    base = ix[first]  # each asset's first interval
    last = np.r_[np.flatnonzero(first)[1:] - 1, len(ix) - 1]  # the last row of each asset
    length = ix[last] - base + k  # K-1 padding + the asset's interval range
    offset = np.r_[0, np.cumsum(length)[:-1]]
    return offset[segment] + (ix - base[segment]) + (k - 1)
