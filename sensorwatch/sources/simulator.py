"""Simulated water pumps with the same 8 sensors as SKAB, and injected anomalies.

Each asset has a latent load (slow random walk + a slow cycle); the sensors follow it the
way a centrifugal pump's do: flow and current rise with load, pressure falls with the
square of it, vibration rises with it (two accelerometers sharing a common component),
motor temperature lags the current's heating, fluid temperature drifts slowly, voltage
sags with current. Measurement noise on every sensor.

Anomalies (the ground truth lists each with asset, kind, sensors, start, end):
* ``spike``: one sensor jumps by 8-12 sigma (of its noise) for 1-5 s;
* ``drift``: one sensor ramps away by up to 10-15 sigma over 2-10 min;
* ``stuck``: one sensor freezes at its current value for 1-5 min;
* ``correlated``: cavitation-like fault for 1-5 min: pressure and flow drop, both
  accelerometers rise, current dips, all together.
Pure numpy: no Spark, no Kafka; ``produce.py`` sends the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from schemas import SENSOR_NAMES
from schemas.errors import UsageError

ANOMALY_KINDS = ("spike", "drift", "stuck", "correlated")
CORRELATED_SENSORS = ("accelerometer1_rms", "accelerometer2_rms", "current", "pressure", "volume_flow_rate_rms")
WARMUP_S = 600  # by default no anomalies in the first 10 minutes of an asset


@dataclass(frozen=True)
class Anomaly:
    asset_id: str
    kind: str
    sensors: tuple[str, ...]
    start: datetime  # first affected reading
    end: datetime  # last affected reading (inclusive)

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(sensors=list(self.sensors), start=self.start.isoformat(), end=self.end.isoformat())
        return d


@dataclass
class AssetSeries:
    asset_id: str
    times_ms: np.ndarray  # epoch milliseconds (UTC) of each reading
    values: dict[str, np.ndarray]  # sensor -> readings
    anomalies: list[Anomaly]

    @property
    def length(self) -> int:
        return len(self.times_ms)


def asset_ids(n: int) -> list[str]:
    return [f"pump-{i:04d}" for i in range(n)]


def _lag(x: np.ndarray, tau_s: float, start: float | None = None) -> np.ndarray:
    """First-order lag (exponential smoothing) with time constant ``tau_s``, from ``start``
    (default: the first value, i.e. already settled)."""
    alpha = 1.0 / tau_s
    out = np.empty_like(x)
    acc = x[0] if start is None else start
    for i, v in enumerate(x):  # lfilter-free on purpose: numpy only
        acc += alpha * (v - acc)
        out[i] = acc
    return out


def normal_operation(rng: np.random.Generator, seconds: int, load_shift: np.ndarray | None = None,
                     steady: bool = False, cold_start: bool = False) -> dict[str, np.ndarray]:
    """``load_shift``: added to the latent load (a normal change of operating point, every
    sensor following it); ``steady``: a test bench's fixed operating point (a tenth of the
    load's wander); ``cold_start``: the motor and the fluid start at ambient temperature
    and warm up with their time constants."""
    t = np.arange(seconds, dtype=float)
    walk = np.cumsum(rng.normal(0, 0.002, seconds))
    walk -= np.linspace(0, walk[-1], seconds) * 0.5  # keep it from wandering off
    cycle = 0.08 * np.sin(2 * np.pi * t / rng.uniform(1800, 5400) + rng.uniform(0, 2 * np.pi))
    level = rng.uniform(0.65, 0.95)
    load = level + 0.1 * (walk + cycle) if steady else level + walk + cycle
    load = np.clip(load if load_shift is None else load + load_shift, 0.3, 1.2)
    shared_vibration = rng.normal(0, 0.0006, seconds)
    current = 0.35 + 1.05 * load + rng.normal(0, 0.02, seconds)
    ambient = 20.0 if cold_start else None
    return {
        "accelerometer1_rms": 0.020 + 0.008 * load + shared_vibration + rng.normal(0, 0.0004, seconds),
        "accelerometer2_rms": 0.030 + 0.011 * load + 1.2 * shared_vibration + rng.normal(0, 0.0004, seconds),
        "current": current,
        "pressure": 1.1 * (1 - 0.45 * load**2) + rng.normal(0, 0.015, seconds),
        "temperature": _lag(58 + 18 * current**2, 300.0, ambient) + rng.normal(0, 0.08, seconds),
        "thermocouple": 24 + 1.5 * np.sin(2 * np.pi * t / 86400)
        + _lag(2.0 * load, 900.0, None if ambient is None else ambient - 24)
        + rng.normal(0, 0.04, seconds),
        "voltage": 233 - 3.0 * (current - 1.2) + rng.normal(0, 0.6, seconds),
        "volume_flow_rate_rms": 32 * load + rng.normal(0, 0.25, seconds),
    }


def _inject(rng: np.random.Generator, values: dict[str, np.ndarray], kind: str, lo: int, hi: int) -> tuple[str, ...]:
    """Apply one anomaly to ``values[...][lo:hi]`` in place; return the affected sensors."""
    sigma = {s: float(np.std(np.diff(v))) / np.sqrt(2) + 1e-9 for s, v in values.items()}
    if kind == "correlated":
        w = np.minimum(1.0, np.arange(hi - lo) / 10.0)  # 10 s onset
        values["pressure"][lo:hi] *= 1 - 0.30 * w
        values["volume_flow_rate_rms"][lo:hi] *= 1 - 0.20 * w
        values["accelerometer1_rms"][lo:hi] *= 1 + 0.60 * w
        values["accelerometer2_rms"][lo:hi] *= 1 + 0.60 * w
        values["current"][lo:hi] *= 1 - 0.08 * w
        return CORRELATED_SENSORS
    sensor = str(rng.choice(SENSOR_NAMES))
    sign = rng.choice([-1.0, 1.0])
    if kind == "spike":
        values[sensor][lo:hi] += sign * rng.uniform(8, 12) * sigma[sensor]
    elif kind == "drift":
        values[sensor][lo:hi] += sign * np.linspace(0, rng.uniform(10, 15), hi - lo) * sigma[sensor]
    elif kind == "stuck":
        values[sensor][lo:hi] = values[sensor][lo]
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}")
    return (sensor,)


_DURATION_S = {"spike": (1, 6), "drift": (120, 601), "stuck": (60, 301), "correlated": (60, 301)}


def simulate_asset(asset_id: str, start: datetime, seconds: int, rng: np.random.Generator,
                   n_anomalies: int, warmup_s: int = WARMUP_S) -> AssetSeries:
    """``warmup_s``: the anomaly-free lead-in (a clean period to train a detector on)."""
    values = normal_operation(rng, seconds)
    anomalies: list[Anomaly] = []
    if n_anomalies and seconds > warmup_s + 700 * n_anomalies:
        # One anomaly per equal slot after the warm-up, so they never overlap.
        slot = (seconds - warmup_s) // n_anomalies
        for i in range(n_anomalies):
            kind = ANOMALY_KINDS[(i + int(rng.integers(0, len(ANOMALY_KINDS)))) % len(ANOMALY_KINDS)]
            duration = int(rng.integers(*_DURATION_S[kind]))
            lo = warmup_s + i * slot + int(rng.integers(0, max(1, slot - duration - 60)))
            hi = lo + duration
            sensors = _inject(rng, values, kind, lo, hi)
            anomalies.append(Anomaly(asset_id, kind, sensors, start + timedelta(seconds=lo),
                                     start + timedelta(seconds=hi - 1)))
    elif n_anomalies:
        raise UsageError(f"{seconds}s per asset is too short for {n_anomalies} anomalies "
                         f"after a {warmup_s}s anomaly-free lead-in (needs > {warmup_s + 700 * n_anomalies}s)")
    times_ms = int(start.timestamp() * 1000) + 1000 * np.arange(seconds, dtype=np.int64)
    return AssetSeries(asset_id, times_ms, values, anomalies)


def simulate(assets: int, seconds: int, start: datetime | None = None, seed: int = 7,
             anomalies_per_asset: int = 3, warmup_s: int = WARMUP_S) -> list[AssetSeries]:
    """``assets`` pumps x ``seconds`` of 1 Hz readings; deterministic for a given seed.
    The anomalies fall after the first ``warmup_s`` seconds of each asset."""
    start = start or (datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds))
    return [simulate_asset(aid, start, seconds, np.random.default_rng([seed, i]), anomalies_per_asset, warmup_s)
            for i, aid in enumerate(asset_ids(assets))]
