"""SKAB-shaped experiments from the simulated pump: the kinds of fault SKAB lists for the
experiments we do not have, and normal regime changes that are not faults.

An experiment is what a SKAB file is: one pump at 1 Hz for ~20 minutes, anomaly-free for
its first ``TRAIN_ROWS`` rows (the protocol trains on them), then one event in the test
rows: a fault, labelled ``anomaly`` = 1 over its span with a ``changepoint`` at its
onset, or a normal regime change (the pump moved to another operating point, warmed up,
the level settled elsewhere after work on it), labelled 0 throughout. The frames have
SKAB's columns, so ``write_experiments`` makes a folder that ``sensorwatch evaluate skab
--data`` reads like SKAB's own, one sub-folder per kind.

The faults follow SKAB's descriptions of its ``other`` experiments (fluid leaks and
additions, rotor imbalance in five shapes, slow and sudden rises of the water level,
draining to cavitation, two-phase flow, hot water supply) and of its valve folders
(the inlet or outlet valve closed). How each shows on the 8 sensors is this module's
model of a centrifugal pump (``simulator.normal_operation``), not SKAB's data: a
detector chosen on these kinds has seen the shapes, never the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from schemas import SENSORS
from sensorwatch.sources.simulator import normal_operation

TRAIN_ROWS = 400  # SKAB's protocol: the first 400 rows of a file train the detector
ROWS = (1100, 1250)  # an experiment's length, drawn in this range (SKAB: ~1,100-1,200 rows)
START = datetime(2020, 1, 1)

Values = dict[str, np.ndarray]


@dataclass(frozen=True)
class Kind:
    name: str
    fault: bool  # labelled anomaly over its span; False: a normal regime change, labelled 0
    sensors: tuple[str, ...]  # the sensors it moves directly
    doc: str


def _ramp(n: int, rise: int) -> np.ndarray:
    """0 -> 1 over ``rise`` rows, then 1."""
    return np.minimum(1.0, np.arange(n) / max(1, rise))


def _scale(values: Values, lo: int, hi: int, changes: dict[str, float], shape: np.ndarray) -> None:
    """Each sensor times (1 + change x shape) over [lo, hi)."""
    for sensor, change in changes.items():
        values[sensor][lo:hi] *= 1 + change * shape


def _noise(rng: np.random.Generator, values: Values, lo: int, hi: int, sensor: str, times: float,
           shape: np.ndarray) -> None:
    """More noise on ``sensor``: ``times`` its own reading-to-reading spread, growing with ``shape``."""
    sigma = float(np.std(np.diff(values[sensor][:TRAIN_ROWS]))) / np.sqrt(2)
    values[sensor][lo:hi] += rng.normal(0, 1, hi - lo) * sigma * times * shape


VIBRATION = {"accelerometer1_rms": 1.0, "accelerometer2_rms": 1.0}


def _vibration(size: float) -> dict[str, float]:
    return {s: size * w for s, w in VIBRATION.items()}


def _imbalance(shape: Callable[[np.random.Generator, int], np.ndarray]) -> Callable[..., None]:
    """A rotor imbalance: both accelerometers rise by the shape (times 0.5-0.8 of their
    level), the motor's current a little with them."""
    def apply(rng: np.random.Generator, values: Values, lo: int, hi: int) -> None:
        s = shape(rng, hi - lo)
        size = rng.uniform(0.5, 0.8)
        _scale(values, lo, hi, {**_vibration(size), "current": 0.03 * size}, s)
    return apply


def _dirac(rng: np.random.Generator, n: int) -> np.ndarray:
    """Single-row impulses, 3-6 of them, about every 15-40 rows, each 3-5 times the step."""
    s = np.zeros(n)
    at = np.cumsum(rng.integers(15, 41, int(rng.integers(3, 7))))
    at = at[at < n]
    s[at] = rng.uniform(3, 5, len(at))
    return s


def _stairs(rng: np.random.Generator, n: int) -> np.ndarray:
    steps = int(rng.integers(3, 5))
    return np.floor(np.arange(n) / (n / steps) + 1) / steps


def _exponential(rng: np.random.Generator, n: int) -> np.ndarray:
    rate = rng.uniform(3, 5)
    return np.expm1(rate * np.arange(n) / n) / np.expm1(rate)


def _leak(rng, values, lo, hi):  # fluid leaves the circuit: less pressure and flow, the motor eases
    size = rng.uniform(0.08, 0.15)
    _scale(values, lo, hi, {"pressure": -size, "volume_flow_rate_rms": -0.6 * size, "current": -0.15 * size},
           _ramp(hi - lo, 30))


def _addition(rng, values, lo, hi):  # fluid added: more pressure and flow
    size = rng.uniform(0.08, 0.15)
    _scale(values, lo, hi, {"pressure": size, "volume_flow_rate_rms": 0.5 * size, "current": 0.15 * size},
           _ramp(hi - lo, 20))


def _level(rise: int) -> Callable[..., None]:
    """The tank's water level rises: more suction head, so more pressure and a little more flow."""
    def apply(rng, values, lo, hi):
        size = rng.uniform(0.10, 0.20)
        _scale(values, lo, hi, {"pressure": size, "volume_flow_rate_rms": 0.25 * size, "current": 0.08 * size},
               _ramp(hi - lo, rise if rise else hi - lo))
    return apply


def _cavitation(rng, values, lo, hi):  # the tank drains: pressure and flow fall, the pump starts to cavitate
    n = hi - lo
    fall = _ramp(n, n)
    _scale(values, lo, hi, {"pressure": -0.35, "volume_flow_rate_rms": -0.25, "current": -0.08, **_vibration(0.6)},
           fall ** 2)
    for sensor in (*VIBRATION, "volume_flow_rate_rms", "pressure"):
        _noise(rng, values, lo, hi, sensor, 3.0, fall ** 2)


def _two_phase(rng, values, lo, hi):  # air in the water: flow and pressure unsteady, vibration noisy
    on = _ramp(hi - lo, 10)
    _scale(values, lo, hi, {"volume_flow_rate_rms": -0.06, "pressure": -0.05}, on)
    for sensor, times in (("volume_flow_rate_rms", 5.0), ("pressure", 4.0), ("accelerometer1_rms", 3.0),
                          ("accelerometer2_rms", 3.0), ("current", 2.0)):
        _noise(rng, values, lo, hi, sensor, times, on)


def _hot_water(rng, values, lo, hi):  # hot water supplied: the fluid's temperature climbs by 15-25 K
    n = hi - lo
    rise = rng.uniform(15, 25) * (1 - np.exp(-np.arange(n) / rng.uniform(40, 90)))
    values["thermocouple"][lo:hi] += rise
    values["temperature"][lo:hi] += 0.15 * rise  # the motor runs a little warmer in warmer water
    _scale(values, lo, hi, {"pressure": -0.02}, rise / rise.max())


def _valve(outlet: bool) -> Callable[..., None]:
    """A valve closed part-way (SKAB's valve1: inlet, valve2: outlet): less flow and current;
    pressure falls behind a closed inlet and rises before a closed outlet."""
    def apply(rng, values, lo, hi):
        size = rng.uniform(0.15, 0.30)
        _scale(values, lo, hi, {"volume_flow_rate_rms": -size, "current": -0.25 * size,
                                "pressure": (0.8 if outlet else -0.8) * size}, _ramp(hi - lo, 5))
    return apply


FAULTS: dict[str, tuple[Kind, Callable[..., None]]] = {k.name: (k, f) for k, f in (
    (Kind("valve_inlet", True, ("volume_flow_rate_rms", "current", "pressure"),
          "the inlet valve closed part-way (SKAB valve1)"), _valve(outlet=False)),
    (Kind("valve_outlet", True, ("volume_flow_rate_rms", "current", "pressure"),
          "the outlet valve closed part-way (SKAB valve2)"), _valve(outlet=True)),
    (Kind("fluid_leak", True, ("pressure", "volume_flow_rate_rms", "current"), "fluid leaking from the circuit"),
     _leak),
    (Kind("fluid_addition", True, ("pressure", "volume_flow_rate_rms", "current"), "fluid added to the circuit"),
     _addition),
    (Kind("imbalance_sharp", True, (*VIBRATION, "current"), "rotor imbalance appearing at once"),
     _imbalance(lambda rng, n: np.ones(n))),
    (Kind("imbalance_linear", True, (*VIBRATION, "current"), "rotor imbalance growing linearly"),
     _imbalance(lambda rng, n: _ramp(n, n))),
    (Kind("imbalance_step", True, (*VIBRATION, "current"), "rotor imbalance growing in steps"),
     _imbalance(_stairs)),
    (Kind("imbalance_dirac", True, (*VIBRATION, "current"), "rotor imbalance as single-row impulses"),
     _imbalance(_dirac)),
    (Kind("imbalance_exponential", True, (*VIBRATION, "current"), "rotor imbalance growing exponentially"),
     _imbalance(_exponential)),
    (Kind("level_rise_slow", True, ("pressure", "volume_flow_rate_rms", "current"),
          "the water level rising slowly"), _level(rise=0)),
    (Kind("level_rise_sudden", True, ("pressure", "volume_flow_rate_rms", "current"),
          "the water level rising suddenly"), _level(rise=10)),
    (Kind("cavitation_draining", True, ("pressure", "volume_flow_rate_rms", "current", *VIBRATION),
          "the tank draining until the pump cavitates"), _cavitation),
    (Kind("two_phase_flow", True, ("volume_flow_rate_rms", "pressure", *VIBRATION, "current"),
          "air in the water: two-phase flow"), _two_phase),
    (Kind("hot_water", True, ("thermocouple", "temperature", "pressure"), "hot water supplied to the circuit"),
     _hot_water),
)}

# Normal regime changes: the operating point moves through the pump's own physics (the
# latent load, or the temperatures' start), so every sensor stays consistent with it.
NORMAL: dict[str, Kind] = {k.name: k for k in (
    Kind("load_step", False, (), "the load stepped to another level and stays there"),
    Kind("setpoint_ramp", False, (), "a set-point change: the load ramps to another level over 1-3 minutes"),
    Kind("warm_up", False, (), "a cold start: the motor and the fluid still warming through the test rows"),
    Kind("level_settled", False, (), "after work on the pump the level settled elsewhere: a new steady load"),
)}

KINDS: tuple[str, ...] = (*FAULTS, *NORMAL)


@dataclass(frozen=True)
class Experiment:
    kind: Kind
    frame: pd.DataFrame  # SKAB's columns, indexed by naive timestamps (``datetime``)
    span: tuple[int, int]  # the event's rows [lo, hi)


def experiment(kind: str, seed: int) -> Experiment:
    """One experiment of ``kind``; deterministic for (kind, seed)."""
    if kind not in FAULTS and kind not in NORMAL:
        raise ValueError(f"unknown experiment kind {kind!r}; known: {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    rows = int(rng.integers(*ROWS))
    lo = TRAIN_ROWS + int(rng.integers(60, 300))  # onset in the test rows
    hi = min(rows, lo + int(rng.integers(150, 450)))  # some faults last to the end of the file
    load_shift = np.zeros(rows)
    cold = False
    if kind in NORMAL:
        move = rng.choice([-1.0, 1.0]) * rng.uniform(0.08, 0.15)
        hi = rows  # a regime change stays
        if kind in ("load_step", "level_settled"):
            load_shift[lo:] = move * _ramp(rows - lo, 5 if kind == "load_step" else 30)
        elif kind == "setpoint_ramp":
            load_shift[lo:] = move * _ramp(rows - lo, int(rng.integers(60, 181)))
        else:  # warm_up: the change is the start itself
            cold, lo = True, TRAIN_ROWS
    values = normal_operation(rng, rows, load_shift=load_shift, steady=True, cold_start=cold)
    if kind in FAULTS:
        FAULTS[kind][1](rng, values, lo, hi)
    anomaly = np.zeros(rows)
    changepoint = np.zeros(rows)
    if kind in FAULTS:
        anomaly[lo:hi] = 1
        changepoint[lo] = 1
    frame = pd.DataFrame({s.skab_column: values[s.name] for s in SENSORS},
                         index=pd.DatetimeIndex([START + timedelta(seconds=i) for i in range(rows)], name="datetime"))
    frame["anomaly"], frame["changepoint"] = anomaly, changepoint
    return Experiment(FAULTS[kind][0] if kind in FAULTS else NORMAL[kind], frame, (lo, hi))


def write_experiments(out_dir: Path, kinds: tuple[str, ...] = KINDS, per_kind: int = 3, seed: int = 0) -> list[Path]:
    """``per_kind`` experiments of each kind as SKAB CSV files: ``out_dir/<kind>/<n>.csv``."""
    paths = []
    for kind in kinds:
        (out_dir / kind).mkdir(parents=True, exist_ok=True)
        for n in range(per_kind):
            path = out_dir / kind / f"{n}.csv"
            experiment(kind, seed * 1000 + n).frame.to_csv(path, sep=";", date_format="%Y-%m-%d %H:%M:%S")
            paths.append(path)
    return paths
