"""Forecast benchmark (not a test): a rolling-origin backtest of the sensor forecasts,
side by side, on the simulator's fleet and on SKAB's anomaly-free file.

    .venv/bin/python bench/forecast.py [--pumps 4] [--days 5] [--no-lstm]

Short horizon (what each prediction cycle issues: the 15 one-minute means ahead, from the
1 s intervals before the issue time), methods:
  * naive: the last reading (the baseline; seasonal naive with no season: none is known
    below an hour), intervals from its own errors in training;
  * ets_trained: ``models.forecasting.forecast_short`` (the level of ETS(A,N,N) with the
    weight fitted in training; intervals: the training errors' quantiles per step);
  * auto_ets: statsforecast's AutoETS refitted at every origin on the last 2 h of one-minute
    means (its own 80/95 % intervals);
  * lstm: the detector's LSTM (trained on the first 6 h, 3 epochs) run recursively on its
    own next-interval forecasts for 900 s, averaged per minute (no intervals of its own).
Long horizon (hourly, the next 24 h): seasonal_naive (24 h ago: the baseline), auto_ets and
auto_theta (statsforecast, a daily season), origins every 6 h after 3 days. SKAB's file
holds 2.6 hours: the short horizon only.

MASE here is the method's mean absolute error over the baseline's on the same origins and
steps, per series (asset x sensor), averaged over the series (< 1: better than the
baseline). Coverage: the share of actual values inside the 80 % and 95 % intervals.
Training rows are never test rows. The last line is one JSON object: the production choice
(the best MASE among the methods cheap enough for the cycle: refitting statsforecast per
series per cycle costs ~20 ms x 8,000 series at 1,000 pumps) with ``mase_short``,
``mase_long``, ``coverage_80``, ``coverage_95``, and every method's figures per data set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import forecasting as fc
from schemas import SENSOR_NAMES
from sensorwatch.sources import skab
from sensorwatch.sources.simulator import simulate

SPEC = fc.ShortSpec()
# What production can run: every cycle (short, 8,000 series at 1,000 pumps within seconds), every hour (long).
CHEAP = {"short": ("naive", "ets_trained"), "long": ("seasonal_naive", "auto_ets", "auto_theta")}
HISTORY = 3600  # the intervals before an origin that auto_ets and the LSTM may read (the test's first inputs)


def mase(errors: dict[str, np.ndarray], baseline: str) -> dict[str, float]:
    """errors: method -> |actual - forecast| (origins x steps x series) -> mean over series
    of MAE(method) / MAE(baseline)."""
    base = np.nanmean(errors[baseline], axis=(0, 1))
    return {m: round(float(np.nanmean(np.nanmean(e, axis=(0, 1)) / base)), 4) for m, e in errors.items()}


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    ok = np.isfinite(actual) & np.isfinite(lo)
    return round(float(np.mean((actual[ok] >= lo[ok]) & (actual[ok] <= hi[ok]))), 4)


def naive_profiles(train: np.ndarray) -> list[fc.ShortProfile]:
    """The naive forecast as a short profile: weight 1 (the last reading), its training
    errors' quantiles."""
    first, last = SPEC.history, len(train) - SPEC.step * SPEC.steps
    origins = np.arange(first, last + 1, SPEC.origin_every)
    windows, targets = fc.windows_and_targets(train, origins, SPEC)
    errors = targets - fc.levels(windows, np.ones(train.shape[1]))[:, None, :]
    q = np.nan_to_num(np.nanquantile(errors, fc.QUANTILES, axis=0)).transpose(2, 1, 0)  # sensors x steps x 4
    return [fc.ShortProfile(1.0, tuple(map(tuple, qs))) for qs in q]


def auto_ets_short(values: np.ndarray, origins: np.ndarray) -> fc.Forecast:
    """statsforecast AutoETS per origin and sensor on the last hour of one-minute means."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    frames = []
    for i, o in enumerate(origins):
        minutes = np.nanmean(values[o - HISTORY:o].reshape(HISTORY // 60, 60, -1), axis=1)
        for s in range(values.shape[1]):
            y = pd.Series(minutes[:, s]).interpolate(limit_direction="both").to_numpy()
            frames.append(pd.DataFrame({"unique_id": f"{i}:{s}", "ds": np.arange(len(y)), "y": y}))
    out = StatsForecast(models=[AutoETS(season_length=1)], freq=1, n_jobs=1).forecast(
        df=pd.concat(frames, ignore_index=True), h=SPEC.steps, level=[80, 95])
    shape = (len(origins), values.shape[1], SPEC.steps)
    order = {f"{i}:{s}": (i, s) for i in range(len(origins)) for s in range(values.shape[1])}
    arrays = {c: np.full(shape, np.nan) for c in ("AutoETS", "AutoETS-lo-80", "AutoETS-hi-80", "AutoETS-lo-95",
                                                   "AutoETS-hi-95")}
    for key, rows in out.groupby("unique_id", sort=False):
        i, s = order[str(key)]
        for c in arrays:
            arrays[c][i, s] = rows[c].to_numpy()
    t = lambda a: a.transpose(0, 2, 1)
    return fc.Forecast(*(t(arrays[c]) for c in arrays))


def lstm_short(train: dict[str, np.ndarray], test: dict[str, np.ndarray], origins: dict[str, np.ndarray],
               epochs: int) -> dict[str, np.ndarray]:
    """The detector's LSTM, trained on ``train``, run recursively from each origin for
    steps x step intervals; per asset: origins x steps x sensors of minute means."""
    from models.detector import Detector
    from sensorwatch.config import load_settings

    spec = replace(load_settings("local").model.spec(), epochs=epochs, batch_size=512)
    frames = {a: pd.DataFrame(v, columns=spec.columns) for a, v in train.items()}
    detector = Detector.fit(frames, spec)
    out = {}
    for asset, values in test.items():
        cal = detector.calibration(asset)
        mean, std = np.array(cal.mean), np.array(cal.std)
        o = origins[asset]
        window = np.nan_to_num((values[o[:, None] - spec.window + np.arange(spec.window)] - mean) / std)
        window = window.astype(np.float32)
        path = []
        for _ in range(SPEC.steps * SPEC.step):
            nxt = detector._predict(window)  # next interval, normalised
            path.append(nxt)
            window = np.concatenate([window[:, 1:], nxt[:, None, :].astype(np.float32)], axis=1)
        path = np.stack(path, axis=1) * std + mean  # origins x 900 x sensors
        out[asset] = path.reshape(len(o), SPEC.steps, SPEC.step, -1).mean(axis=2)
    return out


SHORT_METHODS = {
    "naive": lambda values, o, train: fc.forecast_short(values, o, naive_profiles(train), SPEC),
    "ets_trained": lambda values, o, train: fc.forecast_short(values, o, fc.fit_short(train, SPEC), SPEC),
    "auto_ets": lambda values, o, train: auto_ets_short(values, o),
}


def short_backtest(train: dict[str, np.ndarray], test: dict[str, np.ndarray], every: int, lstm_epochs: int,
                   lstm_train: dict[str, np.ndarray] | None) -> dict:
    """Every method on every asset's test rows, origins every ``every`` intervals."""
    errors: dict[str, list] = {}
    covered: dict[str, dict[str, list]] = {}
    origins = {a: np.arange(HISTORY, len(v) - SPEC.step * SPEC.steps, every) for a, v in test.items()}
    timing: dict[str, float] = {}
    for asset, values in test.items():
        o = origins[asset]
        _, actual = fc.windows_and_targets(values, o, SPEC)
        for name, run in SHORT_METHODS.items():
            started = time.perf_counter()
            f = run(values, o, train[asset])
            timing[name] = timing.get(name, 0.0) + time.perf_counter() - started
            errors.setdefault(name, []).append(np.abs(actual - f.mean))
            c = covered.setdefault(name, {"80": [], "95": []})
            c["80"].append((actual, f.lo80, f.hi80))
            c["95"].append((actual, f.lo95, f.hi95))
    if lstm_train is not None:
        started = time.perf_counter()
        paths = lstm_short(lstm_train, test, origins, lstm_epochs)
        timing["lstm"] = time.perf_counter() - started
        for asset, values in test.items():
            _, actual = fc.windows_and_targets(values, origins[asset], SPEC)
            errors.setdefault("lstm", []).append(np.abs(actual - paths[asset]))
    pooled = {m: np.concatenate(e, axis=2) for m, e in errors.items()}  # series: asset x sensor
    result = {"mase": mase(pooled, "naive"), "seconds": {m: round(s, 1) for m, s in timing.items()},
              "origins": int(sum(len(o) for o in origins.values()))}
    result["coverage_80"] = {m: coverage(*(np.concatenate([x[i].ravel() for x in c["80"]]) for i in range(3)))
                             for m, c in covered.items()}
    result["coverage_95"] = {m: coverage(*(np.concatenate([x[i].ravel() for x in c["95"]]) for i in range(3)))
                             for m, c in covered.items()}
    return result


def long_backtest(hourly: dict[str, np.ndarray], first_origin: int, every: int) -> dict:
    """Hourly series (id -> values) -> every long method from origins every ``every`` hours."""
    errors: dict[str, list] = {}
    bands: dict[str, list] = {}
    timing: dict[str, float] = {}
    length = min(len(v) for v in hourly.values())
    origins = list(range(first_origin, length - fc.LONG_STEPS + 1, every))
    for method in ("seasonal_naive", "auto_ets", "auto_theta"):
        started = time.perf_counter()
        per_origin_err, per_origin_band = [], []
        for o in origins:
            forecasts = fc.long_forecast({k: v[:o] for k, v in hourly.items()}, method)
            actual = np.stack([hourly[k][o:o + fc.LONG_STEPS] for k in forecasts], axis=1)  # steps x series
            f = {a: np.stack([getattr(forecasts[k], a)[0, :, 0] for k in forecasts], axis=1)
                 for a in ("mean", "lo80", "hi80", "lo95", "hi95")}
            per_origin_err.append(np.abs(actual - f["mean"])[None])
            per_origin_band.append((actual, f))
        timing[method] = round(time.perf_counter() - started, 1)
        errors[method] = np.concatenate(per_origin_err)
        bands[method] = per_origin_band
    result = {"mase": mase(errors, "seasonal_naive"), "seconds": timing, "origins": len(origins)}
    for level in ("80", "95"):
        result[f"coverage_{level}"] = {
            m: coverage(np.concatenate([a.ravel() for a, _ in b]),
                        np.concatenate([f[f"lo{level}"].ravel() for _, f in b]),
                        np.concatenate([f[f"hi{level}"].ravel() for _, f in b])) for m, b in bands.items()}
    return result


def simulated(pumps: int, days: int) -> dict[str, np.ndarray]:
    series = simulate(pumps, days * 86400, datetime(2026, 3, 2, tzinfo=UTC), seed=21, anomalies_per_asset=0)
    return {s.asset_id: np.column_stack([s.values[n] for n in SENSOR_NAMES]) for s in series}


def skab_free() -> np.ndarray:
    data_dir = skab.default_data_dir()
    f = skab.read_file(data_dir / "anomaly-free" / "anomaly-free.csv", data_dir)
    frame = f.frame[list(SENSOR_NAMES)]
    seconds = ((frame.index - frame.index[0]).total_seconds()).astype(int)
    grid = np.full((seconds.max() + 1, len(SENSOR_NAMES)), np.nan)
    grid[seconds] = frame.to_numpy(np.float64)
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pumps", type=int, default=4)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--lstm-epochs", type=int, default=3)
    parser.add_argument("--no-lstm", action="store_true")
    args = parser.parse_args()
    fleet = simulated(args.pumps, args.days)
    train_rows, test_rows = 12 * 3600, 36 * 3600  # train on the first 12 h; test origins in the next day
    sim_short = short_backtest({a: v[:train_rows] for a, v in fleet.items()},
                               {a: v[train_rows - HISTORY:train_rows + test_rows] for a, v in fleet.items()}, 900,
                               args.lstm_epochs, None if args.no_lstm else {a: v[:6 * 3600] for a, v in fleet.items()})
    hourly = {f"{a}:{s}": np.nanmean(v[: len(v) // 3600 * 3600, i].reshape(-1, 3600), axis=1)
              for a, v in fleet.items() for i, s in enumerate(SENSOR_NAMES)}
    sim_long = long_backtest(hourly, 72, 6)
    free = skab_free()
    skab_short = short_backtest({"skab": free[:HISTORY]}, {"skab": free}, 300, 0, None)  # origins after training
    results = {"simulator": {"short": sim_short, "long": sim_long}, "skab_anomaly_free": {"short": skab_short}}
    for data, horizons in results.items():
        for horizon, r in horizons.items():
            print(f"{data} {horizon} ({r['origins']} origins):")
            for m in r["mase"]:
                cov = (r["coverage_80"].get(m), r["coverage_95"].get(m))
                print(f"  {m:15s} MASE {r['mase'][m]:.3f}  coverage 80% {cov[0]}  95% {cov[1]}  "
                      f"{r['seconds'].get(m, '')} s")
    choice = {"short": min(CHEAP["short"], key=lambda m: sim_short["mase"][m]),
              "long": min(CHEAP["long"], key=lambda m: sim_long["mase"][m])}  # chosen on the simulator
    chosen = ((sim_short, choice["short"]), (skab_short, choice["short"]), (sim_long, choice["long"]))
    production = {  # the worst of the data sets and horizons: MASE the largest, coverage the farthest from nominal
        "short_method": choice["short"], "long_method": choice["long"],
        "mase_short": max(sim_short["mase"][choice["short"]], skab_short["mase"][choice["short"]]),
        "mase_long": sim_long["mase"][choice["long"]],
        "coverage_80": max((r["coverage_80"][m] for r, m in chosen), key=lambda c: abs(c - 0.8)),
        "coverage_95": max((r["coverage_95"][m] for r, m in chosen), key=lambda c: abs(c - 0.95)),
    }
    print(json.dumps({**production, "results": results}))


if __name__ == "__main__":
    main()
