"""Instrument health: checks on one sensor's readings that say the instrument, not the
process, is wrong -- frozen, spiking, changing impossibly fast, dropping out, or drifting
away from the sensors it normally moves with.

Each check reads one asset's readings per interval (rows in time order, a column per
sensor) against what training saw of that sensor (``SensorProfile``), and is causal: a
row's flag depends on that row and the ones before it only, so a live run, a re-run and
a backfill flag the same rows (as ``threshold.confirmed`` does for the model's scores).
A flag also carries ``since``: the row where the condition began (a frozen run's first
row, a spike's first row), so an event built from the flags spans the whole condition,
not just the rows after it was recognised.

Pure numpy: no Spark, no I/O.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CHECKS = ("frozen", "spike", "rate", "dropout", "drift")
NO_FLAG = -1  # ``since`` of a row without a flag


@dataclass(frozen=True)
class InstrumentSpec:
    """When a check fires, in intervals and in multiples of what training saw. Chosen on
    simulated pumps other than the demo's (bench/instrument_checks.py)."""

    frozen_min: int = 30  # frozen: unchanged for at least this many intervals ...
    frozen_factor: float = 3.0  # ... and this many times its longest unchanged run in training
    spike_sigmas: float = 5.0  # spike: this many step-sigmas away from the median before it ...
    spike_context: int = 15  # ... of this many readings ...
    spike_max: int = 5  # ... and back within this many intervals (longer: a level shift, not a spike)
    rate_factor: float = 4.0  # rate: one step larger than this many times training's largest
    dropout_min: int = 10  # dropout: missing for this many intervals while the asset's other sensors report
    drift_window: int = 120  # drift: the residual against each twin, averaged over this many intervals, ...
    drift_factor: float = 2.0  # ... beyond this many times training's largest such average
    drift_twins: int = 2  # a sensor's twins: the sensors that explain it best in training ...
    drift_min_r2: float = 0.5  # ... and at least this well (R², a quadratic in the twin)
    drift_persist: int = 60  # ... and only once it has lasted this many intervals (a process change shows in
    # the twins within that time; an instrument's drift does not)
    min_training_rows: int = 1800  # profiles only from this many training rows (30 min at 1 s): a shorter run
    # has seen neither the process's range (the twins' limits) nor a sensor's normal excursions (SKAB's files
    # train on 400 rows: their accelerometers' own short peaks came out as hundreds of spikes)
    alone_sigmas: float = 4.0  # a spike or a jump is one instrument's only where no other sensor stepped
    # by this many of its step-sigmas in the same interval
    lookback: int = 240  # rows before a row that its flags depend on (and how far back ``since`` reaches):
    # a frozen check that would need a longer run is not made for that sensor

    def __post_init__(self) -> None:
        if self.lookback < self.drift_window + self.drift_persist or self.lookback < self.spike_context + \
                self.spike_max or self.lookback < self.frozen_min:
            raise ValueError(f"lookback ({self.lookback}) must cover drift_window + drift_persist, "
                             "spike_context + spike_max and frozen_min")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> InstrumentSpec:
        return cls(**d)


@dataclass(frozen=True)
class Twin:
    """A sensor that one sensor moves with: training's quadratic of one in the other."""

    other: int  # its column
    coef: tuple[float, ...]  # a, b, c: sensor ~ a + b * other + c * other**2
    limit: float  # |the residual's mean over drift_window| beyond which the two disagree

    def disagree(self, values: np.ndarray, s: int, window: int) -> np.ndarray:
        x = values[:, self.other]
        residual = values[:, s] - (self.coef[0] + self.coef[1] * x + self.coef[2] * x * x)
        with np.errstate(invalid="ignore"):
            return np.abs(_trailing_mean(residual, window)) > self.limit


@dataclass(frozen=True)
class SensorProfile:
    """What training saw of one sensor of one asset."""

    step_sigma: float  # robust sigma of one-interval changes (MAD x 1.4826)
    resolution: float  # the smallest change it reported (quantisation); 0 where every change was 0
    longest_flat: int  # the longest run of unchanged readings
    largest_step: float  # the largest one-interval change
    twins: tuple[Twin, ...] = ()  # () = no drift check

    def to_json(self) -> dict:
        return {**asdict(self), "twins": [asdict(t) for t in self.twins]}

    @classmethod
    def from_json(cls, d: dict) -> SensorProfile:
        twins = tuple(Twin(t["other"], tuple(t["coef"]), t["limit"]) for t in d["twins"])
        return cls(**{**d, "twins": twins})


def _runs_of(mask: np.ndarray) -> np.ndarray:
    """For each row, how many rows in a row up to it (itself included) ``mask`` holds."""
    out = np.zeros(len(mask), dtype=np.int64)
    n = 0
    for i, m in enumerate(mask):
        n = n + 1 if m else 0
        out[i] = n
    return out


def _unchanged(x: np.ndarray, resolution: float) -> np.ndarray:
    """Row i reported the same value as row i - 1 (within half the sensor's resolution);
    False where either is missing, and for the first row."""
    same = np.zeros(len(x), dtype=bool)
    if len(x) > 1:
        with np.errstate(invalid="ignore"):
            same[1:] = np.abs(np.diff(x)) <= resolution / 2
    return same


def fit_profiles(values: np.ndarray, spec: InstrumentSpec) -> list[SensorProfile] | None:
    """One profile per column of ``values`` (training rows of one asset, time order; NaN:
    missing); None when fewer than ``spec.min_training_rows`` rows have every sensor (no
    checks for that asset)."""
    if int(np.all(np.isfinite(values), axis=1).sum()) < spec.min_training_rows:
        return None
    rows, sensors = values.shape
    profiles = []
    for s in range(sensors):
        x = values[:, s]
        steps = np.abs(np.diff(x))
        steps = steps[np.isfinite(steps)]
        nonzero = steps[steps > 0]
        resolution = float(nonzero.min()) if len(nonzero) else 0.0
        step_sigma = float(1.4826 * np.median(np.abs(np.diff(x)[np.isfinite(np.diff(x))]))) if len(steps) else 0.0
        if step_sigma == 0.0 and len(nonzero):  # mostly unchanged (coarse): the typical change when it changes
            step_sigma = float(np.median(nonzero))
        runs = _runs_of(_unchanged(x, resolution))
        profiles.append(SensorProfile(step_sigma, resolution, int(runs.max()) + 1 if len(runs) else 1,
                                      float(steps.max()) if len(steps) else 0.0, _fit_twins(values, s, spec)))
    return profiles


def _fit_twins(values: np.ndarray, s: int, spec: InstrumentSpec) -> tuple[Twin, ...]:
    """The ``drift_twins`` sensors that explain sensor ``s`` best (R² >= ``drift_min_r2``)."""
    ok = np.all(np.isfinite(values), axis=1)
    if ok.sum() < 2 * spec.drift_window:
        return ()
    y = values[ok, s]
    total = float(np.var(y))
    if total == 0.0:
        return ()
    fitted = []
    for other in range(values.shape[1]):
        if other == s:
            continue
        x = values[ok, other]
        design = np.column_stack([np.ones(len(x)), x, x * x])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = y - design @ coef
        r2 = 1.0 - float(np.var(residual)) / total
        if r2 < spec.drift_min_r2:
            continue
        averaged = _trailing_mean(residual, spec.drift_window)
        largest = float(np.nanmax(np.abs(averaged)))
        floor = float(np.std(residual)) / np.sqrt(spec.drift_window)  # never below the noise of the mean
        fitted.append((r2, Twin(other, tuple(float(c) for c in coef), spec.drift_factor * max(largest, floor))))
    return tuple(t for _, t in sorted(fitted, key=lambda f: -f[0])[:spec.drift_twins])


def _trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """The mean of the last ``window`` values up to each row (NaN before ``window`` rows,
    and where any of them is missing)."""
    out = np.full(len(x), np.nan)
    if len(x) >= window:
        c = np.concatenate([[0.0], np.cumsum(x)])
        out[window - 1:] = (c[window:] - c[:-window]) / window
    return out


def frozen(x: np.ndarray, p: SensorProfile, spec: InstrumentSpec) -> np.ndarray:
    """``since`` per row: where an unchanged run that has lasted long enough began. A
    sensor whose training runs ask for more than ``spec.lookback`` rows is not checked (a
    live run could not tell)."""
    need = max(spec.frozen_min, int(np.ceil(spec.frozen_factor * p.longest_flat)))
    if need > spec.lookback:
        return np.full(len(x), NO_FLAG)
    run = _runs_of(_unchanged(x, p.resolution)) + 1  # readings in the run, the first one included
    rows = np.arange(len(x))
    return np.where(run >= need, rows - run + 1, NO_FLAG)


def spike(x: np.ndarray, p: SensorProfile, spec: InstrumentSpec) -> np.ndarray:
    """``since`` per row: at the row a short excursion ends (the reading is back), the
    excursion's first row; the excursion's rows themselves are flagged by the event built
    from it (``since`` .. this row)."""
    out = np.full(len(x), NO_FLAG)
    if p.step_sigma <= 0:
        return out
    limit, start, k = spec.spike_sigmas * p.step_sigma, None, spec.spike_context
    if len(x) <= k:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing context: no reference
        before = np.full(len(x), np.nan)  # the median of the k readings before each row
        before[k:] = np.nanmedian(sliding_window_view(x, k)[:-1], axis=1)
    for i in range(k, len(x)):
        ref = before[i] if start is None else before[start]  # during an excursion: the one before it
        distance = abs(x[i] - ref)  # NaN where either is missing: neither away nor back
        if start is None and distance > limit:
            start = i
        elif start is not None and distance <= limit / 2:  # back where it was (not merely nearer)
            if i - start <= spec.spike_max:  # soon enough: a spike (later: a level shift's end)
                out[i] = start
            start = None
        elif start is not None and i - start > spec.spike_max:  # not back in time: a level shift, the new
            start = None  # normal (so a row's flag depends on the last spike_context + spike_max rows only)
    return out


def rate(x: np.ndarray, p: SensorProfile, spec: InstrumentSpec) -> np.ndarray:
    """``since`` per row: the row itself, where it changed faster than training ever saw by
    ``rate_factor``."""
    step = np.zeros(len(x))
    with np.errstate(invalid="ignore"):
        step[1:] = np.abs(np.diff(x))
    rows = np.arange(len(x))
    limit = spec.rate_factor * p.largest_step
    return np.where((limit > 0) & (np.nan_to_num(step) > limit), rows, NO_FLAG)


def dropout(x: np.ndarray, others_present: np.ndarray, spec: InstrumentSpec) -> np.ndarray:
    """``since`` per row: where the sensor went missing, once it has been missing for
    ``dropout_min`` rows while the asset's other sensors reported."""
    run = _runs_of(~np.isfinite(x) & others_present)
    rows = np.arange(len(x))
    return np.where(run >= spec.dropout_min, rows - run + 1, NO_FLAG)


def off_twins(values: np.ndarray, profiles: list[SensorProfile], spec: InstrumentSpec) -> np.ndarray:
    """Rows x sensors: the sensor disagrees with every one of its twins (False where it has none)."""
    off = np.zeros(values.shape, dtype=bool)
    for s, p in enumerate(profiles):
        if p.twins:
            off[:, s] = np.logical_and.reduce([t.disagree(values, s, spec.drift_window) for t in p.twins])
    return off


def drift(values: np.ndarray, s: int, profiles: list[SensorProfile], spec: InstrumentSpec,
          off: np.ndarray | None = None) -> np.ndarray:
    """``since`` per row: where sensor ``s`` began to disagree with every one of its twins
    while a twin still agrees with its own other twin and no other sensor disagrees with all
    of its own -- one instrument leaving the sensors it moves with, not the process moving
    them (then other sensors leave their twins too), and not a twin's drift showing in ``s``
    (then ``s`` still agrees with its other twin). ``off``: ``off_twins`` (computed if not given)."""
    out = np.full(len(values), NO_FLAG)
    twins = profiles[s].twins
    if not twins:
        return out
    w = spec.drift_window
    off = off_twins(values, profiles, spec) if off is None else off
    alone = off[:, s] & ~np.delete(off, s, axis=1).any(axis=1)
    confirmed = np.zeros(len(values), dtype=bool)
    for t in twins:
        for u in profiles[t.other].twins:
            if u.other != s:
                confirmed |= ~u.disagree(values, t.other, w) & np.isfinite(_trailing_mean(values[:, u.other], w))
    run = _runs_of(alone & confirmed)
    rows = np.arange(len(values))
    # the condition began where the window of its first such row began
    return np.where(run >= spec.drift_persist, np.maximum(rows - run + 1 - (w - 1), 0), NO_FLAG)


def check_all(values: np.ndarray, profiles: list[SensorProfile],
              spec: InstrumentSpec) -> dict[tuple[str, int], np.ndarray]:
    """Every check on every sensor of one asset: (check, sensor column) -> ``since`` per row."""
    present = np.isfinite(values)
    off = off_twins(values, profiles, spec)
    out: dict[tuple[str, int], np.ndarray] = {}
    for s, p in enumerate(profiles):
        x = values[:, s]
        others_present = np.delete(present, s, axis=1).any(axis=1) if values.shape[1] > 1 else np.ones(len(x), bool)
        out[("frozen", s)] = frozen(x, p, spec)
        out[("spike", s)] = spike(x, p, spec)
        out[("rate", s)] = rate(x, p, spec)
        out[("dropout", s)] = dropout(x, others_present, spec)
        out[("drift", s)] = drift(values, s, profiles, spec, off)
    _alone(out, values, profiles, spec)
    return out


def _alone(flags: dict[tuple[str, int], np.ndarray], values: np.ndarray, profiles: list[SensorProfile],
           spec: InstrumentSpec) -> None:
    """An instrument fails alone: a spike or a jump while another sensor stepped too (by
    ``alone_sigmas`` of its step-sigmas, at the spike's start or end, or at the jump) is the
    process (or the asset's wiring), not one instrument: those flags are dropped."""
    sigma = np.array([p.step_sigma if p.step_sigma > 0 else np.inf for p in profiles])
    z = np.zeros(values.shape)
    with np.errstate(invalid="ignore"):
        z[1:] = np.nan_to_num(np.abs(np.diff(values, axis=0)) / sigma)
    stepped = z > spec.alone_sigmas
    for check in ("spike", "rate"):
        for s in range(len(profiles)):
            since = flags[(check, s)]
            rows = np.flatnonzero(since != NO_FLAG)
            others = np.delete(stepped, s, axis=1)
            busy = others[rows].any(axis=1) | others[since[rows]].any(axis=1)
            since[rows[busy]] = NO_FLAG


def condition_per_row(flags: dict[tuple[str, int], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One condition per row, for a row of scores: (check index into ``CHECKS``, sensor
    column, ``since``), -1 each where no check flags the row. Of several, the one that began
    first (then the first in ``CHECKS``, then the first sensor)."""
    rows = len(next(iter(flags.values()))) if flags else 0
    check, sensor, since = np.full(rows, -1), np.full(rows, -1), np.full(rows, np.iinfo(np.int64).max)
    for (name, s), began in sorted(flags.items(), key=lambda kv: (CHECKS.index(kv[0][0]), kv[0][1])):
        earlier = (began != NO_FLAG) & (began < since)
        check[earlier], sensor[earlier], since[earlier] = CHECKS.index(name), s, began[earlier]
    since[check < 0] = NO_FLAG
    return check, sensor, since


@dataclass(frozen=True)
class Finding:
    """One instrument condition: a check on a sensor, over rows [start, end] of the input."""

    check: str
    sensor: int
    start: int
    end: int


def findings(flags: dict[tuple[str, int], np.ndarray]) -> list[Finding]:
    """The conditions the flags describe, each once: consecutive flagged rows of one check
    on one sensor merged, from the earliest ``since`` to the last flagged row (a spike's
    last row is the one before the reading came back)."""
    out = []
    for (check, sensor), since in flags.items():
        flagged = np.flatnonzero(since != NO_FLAG)
        if not len(flagged):
            continue
        breaks = np.flatnonzero(np.diff(flagged) > 1)
        for lo, hi in zip(np.r_[0, breaks + 1], np.r_[breaks, len(flagged) - 1]):
            last = flagged[hi]
            start = int(since[flagged[lo:hi + 1]].min())
            end = int(last - 1) if check == "spike" else int(last)
            out.append(Finding(check, sensor, start, max(end, start)))
    return sorted(out, key=lambda f: (f.start, f.sensor, f.check))
