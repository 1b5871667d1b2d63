"""Forecast benchmark (not a test): a rolling-origin backtest of the sensor forecasts,
side by side, on the simulator's fleet and on SKAB's anomaly-free file.

    .venv/bin/python bench/forecast.py [--pumps 4] [--days 8] [--no-lstm]

Short horizon (what each prediction cycle issues: the 15 one-minute means ahead, from the
1 s intervals before the issue time), methods:
  * naive: the last reading (the baseline; seasonal naive with no season: none is known
    below an hour), intervals from its own errors in training;
  * ets_trained: ``models.forecasting.forecast_short`` (the level of ETS(A,N,N) with the
    weight fitted in training; intervals: the training errors' sizes' quantiles per step),
    as trained and recalibrated as production does (``ets_trained+recalibrated``: issued
    every prediction cycle, recalibrated every hour from the matured forecasts of the last
    ``forecast.calibration_h`` hours, each forecast using the newest recalibration an hour
    old: ``models.forecasting.Recalibration``);
  * auto_ets: statsforecast's AutoETS refitted at every origin on the last 2 h of one-minute
    means (its own 80/95 % intervals);
  * lstm: the detector's LSTM (trained on the first 6 h, 3 epochs) run recursively on its
    own next-interval forecasts for 900 s, averaged per minute (no intervals of its own).
Long horizon (hourly, the next 24 h): seasonal_naive (24 h ago: the baseline), auto_ets and
auto_theta (statsforecast, a daily season), origins every 6 h after 3 days (17 origins in 8
days: 5, in 5 days, were too few to tell a coverage within 5 points); each also recalibrated
(``+recalibrated``: issued hourly from the second day on, each origin's intervals scaled by
the recalibration of its own hour from the forecasts of the ``forecast.history_h`` hours
before it, as ``sensorwatch forecast`` does). SKAB's file holds
2.6 hours: the short horizon only.

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
from sensorwatch.config import load_settings
from sensorwatch.sources import skab
from sensorwatch.sources.simulator import simulate

SPEC = fc.ShortSpec()
SETTINGS = load_settings("local")  # the prediction cycle and the recalibration span production runs with
RECALIBRATED = "+recalibrated"  # a method's name with its intervals recalibrated as production does
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
    errors = np.abs(targets - fc.levels(windows, np.ones(train.shape[1]))[:, None, :])
    half = np.nan_to_num(np.nanquantile(errors, fc.LEVELS, axis=0)).transpose(2, 1, 0)  # sensors x steps x levels
    return [fc.ShortProfile(1.0, tuple(map(tuple, w))) for w in half]


def hourly_scales(issued: np.ndarray, mature: np.ndarray, reaches: dict[float, np.ndarray], hours: np.ndarray,
                  span_s: int) -> dict[int, np.ndarray]:
    """Production's recalibration (``sensorwatch forecast``) at each of ``hours`` (seconds):
    from the forecasts issued in the ``span_s`` before it whose periods ended by it, per
    sensor and level, ``models.forecasting.calibrated_scale`` of their reach. ``issued``:
    issues; ``mature``: issues x steps (when each period's actual is known); ``reaches``:
    level -> issues x steps x sensors. Returns hour -> sensors x levels."""
    out = {}
    for hour in hours:
        use = (issued[:, None] >= hour - span_s) & (issued[:, None] < hour) & (mature <= hour)
        out[int(hour)] = np.array([[fc.calibrated_scale(reaches[level][..., s][use], level) for level in fc.LEVELS]
                                   for s in range(next(iter(reaches.values())).shape[2])])
    return out


def recalibrated_short(values: np.ndarray, origins: np.ndarray, profiles: list[fc.ShortProfile], cycle_s: int,
                       span_s: int) -> fc.Forecast:
    """``forecast_short`` at ``origins`` with the intervals production would give them:
    forecasts issued every ``cycle_s`` from the first origin on, recalibrated hourly
    (``hourly_scales``), each origin using the newest recalibration ``CALIBRATION_LAG_S``
    old (``models.forecasting.Recalibration``, as the prediction job does)."""
    issued = np.arange(origins[0], len(values) - SPEC.step, cycle_s)
    padded = np.vstack([values, np.full((SPEC.step * SPEC.steps, values.shape[1]), np.nan)])
    _, actual = fc.windows_and_targets(padded, issued, SPEC)
    f = fc.forecast_short(values, issued, profiles, SPEC)
    mature = issued[:, None] + (np.arange(SPEC.steps)[None, :] + 1) * SPEC.step
    reaches = {0.8: fc.reach(actual, f.mean, f.lo80, f.hi80), 0.95: fc.reach(actual, f.mean, f.lo95, f.hi95)}
    hours = np.arange((origins[0] // 3600 + 1) * 3600, origins[-1] + 1, 3600)
    scales = hourly_scales(issued, mature, reaches, hours, span_s)
    rows = pd.DataFrame([{"asset_id": "a", "sensor": s, "calibrated_at": pd.Timestamp(h, unit="s"),
                          "scale80": sc[i, 0], "scale95": sc[i, 1]}
                         for h, sc in scales.items() for i, s in enumerate(SENSOR_NAMES)],
                        columns=["asset_id", "sensor", "calibrated_at", "scale80", "scale95"])
    recalibration = fc.Recalibration.of_rows(rows, SENSOR_NAMES)
    at = pd.to_datetime(origins, unit="s").to_numpy()
    return fc.forecast_short(values, origins, profiles, SPEC, recalibration.for_issues("a", at, len(SENSOR_NAMES)))


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

    spec = replace(SETTINGS.model.spec(), epochs=epochs, batch_size=512)
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
    "ets_trained" + RECALIBRATED: lambda values, o, train: recalibrated_short(
        values, o, fc.fit_short(train, SPEC), SETTINGS.predict.interval_s, SETTINGS.forecast.calibration_h * 3600),
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


def long_backtest(hourly: dict[str, np.ndarray], first_origin: int, every: int, span_h: int) -> dict:
    """Hourly series (id -> values) -> every long method from origins every ``every`` hours,
    each also recalibrated as ``sensorwatch forecast`` does (``+recalibrated``): issued every
    hour from ``span_h`` before the first origin (at the earliest from the second day, when
    a daily season is fitted), each origin's intervals
    scaled per series by ``calibrated_scale`` of the reach of the forecasts of the ``span_h``
    hours before it whose hours had passed. ``seconds``: the origins' forecasts only."""
    errors: dict[str, list] = {}
    bands: dict[str, list] = {}
    timing: dict[str, float] = {}
    length = min(len(v) for v in hourly.values())
    origins = list(range(first_origin, length - fc.LONG_STEPS + 1, every))
    for method in ("seasonal_naive", "auto_ets", "auto_theta"):
        issues = range(max(2 * fc.DAY, first_origin - span_h), origins[-1] + 1)
        made, timing[method] = {}, 0.0
        for o in issues:
            started = time.perf_counter()
            made[o] = fc.long_forecast({k: v[:o] for k, v in hourly.items()}, method)
            timing[method] += (time.perf_counter() - started) if o in origins else 0.0
        variants = {method: {o: made[o] for o in origins},
                    method + RECALIBRATED: {o: recalibrated_long(hourly, made, o, span_h) for o in origins}}
        for name, per_origin in variants.items():
            per_origin_err, per_origin_band = [], []
            for o, forecasts in per_origin.items():
                actual = np.stack([hourly[k][o:o + fc.LONG_STEPS] for k in forecasts], axis=1)  # steps x series
                f = {a: np.stack([np.broadcast_to(getattr(forecasts[k], a), forecasts[k].mean.shape)[0, :, 0]
                                  for k in forecasts], axis=1) for a in ("mean", "lo80", "hi80", "lo95", "hi95")}
                per_origin_err.append(np.abs(actual - f["mean"])[None])
                per_origin_band.append((actual, f))
            errors[name] = np.concatenate(per_origin_err)
            bands[name] = per_origin_band
    result = {"mase": mase(errors, "seasonal_naive"), "seconds": {m: round(t, 1) for m, t in timing.items()},
              "origins": len(origins)}
    for level in ("80", "95"):
        result[f"coverage_{level}"] = {
            m: coverage(np.concatenate([a.ravel() for a, _ in b]),
                        np.concatenate([f[f"lo{level}"].ravel() for _, f in b]),
                        np.concatenate([f[f"hi{level}"].ravel() for _, f in b])) for m, b in bands.items()}
    return result


def recalibrated_long(hourly: dict[str, np.ndarray], made: dict[int, dict[str, fc.Forecast]], origin: int,
                      span_h: int) -> dict[str, fc.Forecast]:
    """The forecasts issued at ``origin`` with their intervals scaled per series from the
    reach of those issued in the ``span_h`` hours before it, on the hours that had passed."""
    out = {}
    for key, f in made[origin].items():
        reaches: dict[float, list] = {level: [] for level in fc.LEVELS}
        for issue in range(origin - span_h, origin):
            g = made.get(issue, {}).get(key)
            if g is None:
                continue
            passed = min(fc.LONG_STEPS, origin - issue)  # hours issue .. issue + passed - 1 have ended
            actual = hourly[key][issue:issue + passed]
            for level, lo, hi in ((0.8, g.lo80, g.hi80), (0.95, g.lo95, g.hi95)):
                reaches[level].extend(fc.reach(actual, g.mean[0, :passed, 0], lo[0, :passed, 0], hi[0, :passed, 0]))
        out[key] = f.scaled(*(fc.calibrated_scale(np.array(reaches[level]), level) for level in fc.LEVELS))
    return out


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
    parser.add_argument("--days", type=int, default=8)
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
    sim_long = long_backtest(hourly, 72, 6, SETTINGS.forecast.history_h)
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
    intervals = {h: m + RECALIBRATED if m + RECALIBRATED in r["coverage_80"] else m
                 for h, m, r in (("short", choice["short"], sim_short), ("long", choice["long"], sim_long))}
    chosen = ((sim_short, intervals["short"]), (skab_short, intervals["short"]), (sim_long, intervals["long"]))
    production = {  # the worst of the data sets and horizons: MASE the largest, coverage the farthest from nominal
        "short_method": choice["short"], "long_method": choice["long"], "intervals": intervals,
        "mase_short": max(sim_short["mase"][choice["short"]], skab_short["mase"][choice["short"]]),
        "mase_long": sim_long["mase"][choice["long"]],
        "coverage_80": max((r["coverage_80"][m] for r, m in chosen), key=lambda c: abs(c - 0.8)),
        "coverage_95": max((r["coverage_95"][m] for r, m in chosen), key=lambda c: abs(c - 0.95)),
    }
    print(json.dumps({**production, "results": results}))


if __name__ == "__main__":
    main()
