"""The forward pass's memo: a window's forecast kept from one cycle to the next, and used
again only where the window's inputs are the same bits.

A prediction cycle forecasts every window of its grid, and most of them are its lookback:
at 1,000 pumps, 287 of the 467 windows per pump were forecast by the cycle before (the
adapting baseline, the smoothing and the causal confirmation read their errors). The network
is a pure function of its input window (ONNX Runtime gives the same bits for a window in
any batch: tests/test_memo.py), so a forecast made for the same input is the forecast a
recomputation would make. Each Python worker therefore keeps, per asset, the last rows of
the network's input (normalised and cut as the windows are: float32) and the forecast made
for each of them, in a small file under ``predict.memo_dir``; the next cycle compares its
rows with them and forecasts only the windows that are not the same bits (new intervals,
and those a late event changed), so a live run, a replay and a backfill still give each
interval the same score.

The memo is never a source of truth: a missing, unreadable or foreign file is a miss (the
forecast is made), and the files of one network live in a directory named by its weights'
hash and the scorer, so two models (or two registries' "v1") never share one. Files are
replaced whole (written aside, then renamed): a reader sees the old or the new one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[A-Za-z0-9._-]{1,100}")
# A network's memo untouched this long (no cycle scored with it: a retired version) is removed
# when another one is opened, so that the root holds the networks in use.
STALE_S = 7 * 24 * 3600


class ForecastMemo:
    """One network's memo in ``directory``; counts the windows it saved and those forecast."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.reused = 0  # windows whose forecast was recalled
        self.forecast = 0  # windows forecast (the memo had none for their inputs)
        self._writable = True

    @classmethod
    def open(cls, root: str | Path | None, network: bytes, scorer: str) -> ForecastMemo | None:
        """The memo of the network whose forward pass is ``network`` (its serialised graph)
        run by ``scorer``, under ``root``; None where there is no root or it cannot be made."""
        if not root:
            return None
        directory = Path(root) / f"{scorer}-{hashlib.sha256(network).hexdigest()[:20]}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("forecast memo off: cannot make %s (%s); every window is forecast", directory, exc)
            return None
        _remove_stale(directory)
        return cls(directory)

    def recall(self, asset: str, times: np.ndarray, inputs: np.ndarray, window: int) -> np.ndarray:
        """Per row (``times``: int64, the rows' interval starts; ``inputs``: rows x columns,
        the network's input rows): the forecast remembered for it, where the ``window`` rows
        before it are the remembered rows at the same times, bit for bit; NaN elsewhere."""
        known = np.full(inputs.shape, np.nan, dtype=np.float32)
        kept = self._read(asset, inputs.shape[1])
        if kept is None:
            return known
        kept_times, kept_inputs, kept_forecasts = kept
        at = np.searchsorted(kept_times, times).clip(0, len(kept_times) - 1)
        found = kept_times[at] == times
        same = found & (kept_inputs[at] == inputs).all(axis=1)
        # a row's window is the `window` rows before it: all the same (counted by a running sum),
        # and the memo's `window` rows before the row's own (its forecast was made from them)
        differ = np.concatenate([[0], np.cumsum(~same)])
        rows = np.arange(window, len(times))
        usable = np.zeros(len(times), dtype=bool)
        usable[rows] = ((differ[rows] - differ[rows - window] == 0) & found[rows]
                        & (at[rows] - at[rows - window] == window))
        known[usable] = kept_forecasts[at[usable]]
        return known

    def keep(self, asset: str, times: np.ndarray, inputs: np.ndarray, forecasts: np.ndarray, rows: int) -> None:
        """Remember the last ``rows`` rows: their times, inputs and forecasts (NaN: none)."""
        if not self._writable:
            return
        path = self._path(asset)
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            with open(aside, "wb") as out:
                np.savez(out, times=times[-rows:], inputs=inputs[-rows:].astype(np.float32, copy=False),
                         forecasts=forecasts[-rows:].astype(np.float32, copy=False))
            os.replace(aside, path)
        except OSError as exc:
            self._writable = False
            log.warning("forecast memo not written (%s): the next cycle forecasts every window", exc)

    def _read(self, asset: str, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The remembered rows of ``asset``, or None (none kept, unreadable, another shape)."""
        path = self._path(asset)
        try:
            with np.load(path, allow_pickle=False) as kept:
                times, inputs, forecasts = kept["times"], kept["inputs"], kept["forecasts"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            log.warning("forecast memo of %s unreadable (%s): forecast again", asset, exc)
            return None
        shape_ok = (times.ndim == 1 and len(times) > 0 and times.dtype == np.int64 and inputs.shape == forecasts.shape
                    and inputs.shape == (len(times), columns) and bool(np.all(np.diff(times) > 0)))
        if not shape_ok:
            log.warning("forecast memo of %s does not fit this model's rows: forecast again", asset)
            return None
        return times, inputs, forecasts

    def _path(self, asset: str) -> Path:
        name = asset if _SAFE.fullmatch(asset) else hashlib.sha256(asset.encode()).hexdigest()
        return self.directory / f"{name}.npz"


def _remove_stale(current: Path) -> None:
    """The other networks' memos under ``current``'s root untouched for ``STALE_S`` removed
    (best effort: another worker may be removing the same one)."""
    now = time.time()
    try:
        stale = [d for d in current.parent.iterdir()
                 if d != current and d.is_dir() and now - d.stat().st_mtime > STALE_S]
    except OSError:
        return
    for directory in stale:
        shutil.rmtree(directory, ignore_errors=True)
