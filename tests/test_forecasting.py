"""The forecasts' intervals: trained half-widths, and their recalibration from matured forecasts (numpy only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import forecasting as fc
from schemas import SENSOR_NAMES


def test_reach_measures_each_side_in_units_of_the_unscaled_half_width():
    """An actual above the forecast is measured against the upper half-width, one below
    against the lower; an interval issued with scale 2 is measured as issued with 1."""
    mean = np.array([10.0, 10.0, 10.0, 10.0])
    lo, hi = np.array([9.0, 9.0, 8.0, 8.0]), np.array([12.0, 12.0, 14.0, 14.0])
    actual = np.array([11.0, 8.5, 12.0, np.nan])
    reach = fc.reach(actual, mean, lo, hi, scale=np.array([1.0, 1.0, 2.0, 1.0]))
    assert reach[:3] == pytest.approx([0.5, 1.5, 1.0])  # 1/2; 1.5/1; 2/(4/2)
    assert np.isnan(reach[3])
    assert np.isfinite(fc.reach(np.array([1.0]), np.array([0.0]), np.array([0.0]), np.array([0.0])))  # zero width
    assert np.isfinite(fc.reach(np.array([1.0]), np.array([0.0]), np.array([0.0]), np.array([0.0]), scale=0.0))


def test_a_calibrated_scale_makes_the_level_of_the_matured_intervals_cover():
    """Errors twice as wide as trained: the factor doubles the widths, and the widened
    intervals cover 80 % and 95 % of those forecasts; too few matured forecasts: 1."""
    rng = np.random.default_rng(3)
    errors = rng.normal(0.0, 2.0, 4000)
    half80, half95 = 1.2816, 1.96  # the trained half-widths of N(0, 1) errors
    reach80 = fc.reach(errors, np.zeros_like(errors), -half80 * np.ones_like(errors), half80 * np.ones_like(errors))
    reach95 = fc.reach(errors, np.zeros_like(errors), -half95 * np.ones_like(errors), half95 * np.ones_like(errors))
    s80, s95 = fc.calibrated_scale(reach80, 0.8), fc.calibrated_scale(reach95, 0.95)
    assert s80 == pytest.approx(2.0, rel=0.08) and s95 == pytest.approx(2.0, rel=0.08)
    assert np.mean(np.abs(errors) <= s80 * half80) == pytest.approx(0.8, abs=0.002)
    assert np.mean(np.abs(errors) <= s95 * half95) == pytest.approx(0.95, abs=0.002)
    assert fc.calibrated_scale(reach80[: fc.MIN_MATURED - 1], 0.8) == 1.0
    assert fc.calibrated_scale(np.full(100, np.nan), 0.8) == 1.0  # no actuals: nothing to learn


def test_scaled_replaces_the_factor_and_keeps_skewed_sides():
    f = fc.Forecast(*(np.array([[[v]]]) for v in (10.0, 9.0, 12.0, 8.0, 14.0)))
    twice = f.scaled(2.0, 0.5)
    assert (twice.lo80.item(), twice.hi80.item(), twice.lo95.item(), twice.hi95.item()) == (8.0, 14.0, 9.0, 12.0)
    back = twice.scaled(1.0, 1.0)  # a factor applies to the unscaled widths, not to the last ones
    assert (back.lo80.item(), back.hi95.item(), back.scale80.item()) == (9.0, 14.0, 1.0)


def test_a_recalibration_applies_from_an_hour_after_it_was_computed():
    """Issues use the newest recalibration at least ``CALIBRATION_LAG_S`` old; before any,
    or for an asset it does not name, the intervals as trained."""
    h = pd.Timestamp("2026-03-02 10:00")
    rows = pd.DataFrame([
        {"asset_id": "p1", "sensor": "pressure", "calibrated_at": h, "scale80": 2.0, "scale95": 3.0},
        {"asset_id": "p1", "sensor": "pressure", "calibrated_at": h + pd.Timedelta(hours=1), "scale80": 4.0,
         "scale95": 5.0},
        {"asset_id": "p1", "sensor": "no_such_sensor", "calibrated_at": h, "scale80": 9.0, "scale95": 9.0}])
    recal = fc.Recalibration.of_rows(rows, SENSOR_NAMES)
    issues = (h + pd.to_timedelta([59, 60, 119, 120], unit="min")).to_numpy()
    scales = recal.for_issues("p1", issues, len(SENSOR_NAMES))
    p = SENSOR_NAMES.index("pressure")
    assert scales[:, p].tolist() == [[1.0, 1.0], [2.0, 3.0], [2.0, 3.0], [4.0, 5.0]]
    assert (np.delete(scales, p, axis=1) == 1.0).all()  # the other sensors: as trained
    assert recal.for_issues("p2", issues, len(SENSOR_NAMES)) is None
    assert recal.for_issues("p1", issues[:1], len(SENSOR_NAMES)) is None
    assert fc.Recalibration().for_issues("p1", issues, len(SENSOR_NAMES)) is None


def test_short_intervals_are_symmetric_quantiles_of_trained_error_sizes_and_older_profiles_still_load():
    """Training's errors that all lean one way (a trend) still give an interval around the
    forecast; a profile saved with signed quantiles (before) loads as half-widths."""
    spec = fc.ShortSpec(history=60, step=5, steps=3, origin_every=10)
    t = np.arange(600, dtype=np.float64)
    values = np.column_stack([0.01 * t + np.sin(t / 7.0), np.cos(t / 11.0)])  # a rising sensor and a level one
    profiles = fc.fit_short(values, spec)
    made = fc.forecast_short(values, np.array([400, 500]), profiles, spec)
    assert (made.lo95 < made.mean).all() and (made.mean < made.hi95).all()
    assert (made.lo95 <= made.lo80).all() and (made.hi80 <= made.hi95).all()
    assert np.allclose(made.hi80 - made.mean, made.mean - made.lo80)
    old = fc.ShortProfile.from_json({"alpha": 0.1, "quantiles": [[-3.0, -1.0, 2.0, 5.0]]})
    assert old.half_widths == ((1.5, 4.0),)
    assert fc.ShortProfile.from_json(profiles[0].to_json()) == profiles[0]


def test_the_store_recalibrates_from_the_matured_forecasts_of_its_span_as_numpy_does(store_isolated):
    """CrateDB's recalibration (``sensorwatch forecast``'s first step) over stored forecasts
    and actuals equals ``calibrated_scale`` of their reach: only forecasts issued in the
    span whose periods had ended, each measured against its unscaled width; an asset with
    too few matured forecasts gets none. The prediction job reads it back for the issues
    an hour later, and not before."""
    from datetime import UTC, datetime, timedelta

    from models.serving import Grid
    from schemas import FORECAST_CALIBRATION, SENSOR_FORECASTS
    from sensorwatch.connectors.sql import SqlStore
    from sensorwatch.pipeline.long_forecast import recalibrate
    from sensorwatch.pipeline.prediction import stored_recalibration

    store = SqlStore(store_isolated).with_views()
    hour = datetime(2026, 3, 2, 12, tzinfo=UTC)
    rng = np.random.default_rng(5)
    rows, expected = [], {0.8: [], 0.95: []}
    actual_at: dict[datetime, float] = {}

    def forecast(asset: str, issued: datetime, scale80: float, counted: bool) -> None:
        for k in (1, 2, 3):
            target = issued + timedelta(minutes=k - 1)
            if (asset, target) not in actual_at:
                actual_at[(asset, target)] = float(rng.normal(10.0, 1.5))
                rows.append(row(asset, target + timedelta(minutes=1), target, 0, actual=actual_at[(asset, target)]))
            rows.append(row(asset, issued, target, k, forecast=10.0, lo80=10 - scale80, hi80=10 + scale80, lo95=8.0,
                            hi95=12.0, scale80=scale80, scale95=1.0))
            if counted and target + timedelta(minutes=1) <= hour:
                a = np.array([actual_at[(asset, target)]])
                expected[0.8].append(fc.reach(a, np.array([10.0]), np.array([9.0]), np.array([11.0]))[0])
                expected[0.95].append(fc.reach(a, np.array([10.0]), np.array([8.0]), np.array([12.0]))[0])

    def row(asset, issued, target, ahead, **values) -> dict:
        return {"asset_id": asset, "sensor": "pressure", "horizon": "short", "issued_at": issued,
                "target_start": target, "step_s": 60, "steps_ahead": ahead, "method": "ets_trained",
                "model_name": "m", "model_version": 1, "run_id": "r0", "day": issued.replace(hour=0, minute=0),
                **values}

    for i in range(60):  # every 3 minutes over the 3 hours before the hour; the first half issued with scale 2
        forecast("p1", hour - timedelta(minutes=180 - 3 * i), 2.0 if i < 30 else 1.0, counted=True)
    forecast("p1", hour - timedelta(hours=25), 1.0, counted=False)  # before the span
    for i in range(3):  # too few
        forecast("p2", hour - timedelta(minutes=30 - 3 * i), 1.0, counted=True)
    store.upsert(SENSOR_FORECASTS, [{c: r.get(c) for c in SENSOR_FORECASTS.column_names} for r in rows])
    expected = {level: np.array(v[:len(v) - 9]) for level, v in expected.items()}  # p2's 9 are not p1's

    scales = recalibrate(store, hour, {"short": 24, "long": 72}, "r1")
    assert set(scales) == {"short"} and set(scales["short"]) == {("p1", "pressure")}
    s80, s95 = scales["short"][("p1", "pressure")]
    assert s80 == pytest.approx(fc.calibrated_scale(expected[0.8], 0.8), rel=0.05)
    assert s95 == pytest.approx(fc.calibrated_scale(expected[0.95], 0.95), rel=0.05)
    stored = store.query(f"SELECT asset_id, matured, scale80 FROM {store.name(FORECAST_CALIBRATION)}")
    assert [(r.asset_id, r.matured) for r in stored] == [("p1", len(expected[0.8]))]

    def read_back(minutes_after: int):
        start = hour + timedelta(minutes=minutes_after)
        grid = Grid.for_range(start, start + timedelta(minutes=3), 1, 10)
        return stored_recalibration(store, grid, 180).for_issues(
            "p1", grid.issues(180).to_numpy(), len(SENSOR_NAMES))

    used = read_back(60)
    assert used is not None and used[0, 3].tolist() == pytest.approx([s80, s95])  # pressure: the 4th sensor
    assert read_back(30) is None  # within the hour it was computed for: the intervals as trained
