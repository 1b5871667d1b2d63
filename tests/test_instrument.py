"""Instrument-health checks on hand-made series (models.instrument): each check fires on the
fault it names, from where the fault began, and stays silent on a quiet but live sensor,
on a coarse (quantised) sensor, and on the process moving all sensors together."""

import numpy as np
import pytest

from models import instrument
from models.instrument import NO_FLAG, InstrumentSpec, check_all, findings, fit_profiles

pytestmark = pytest.mark.unit

SPEC = InstrumentSpec()


def plant(rows: int, seed: int = 0, quiet: float = 1.0) -> np.ndarray:
    """Three sensors driven by one slow load (twins of each other), with noise, and a
    fourth that only drifts slowly on its own (no twins)."""
    rng = np.random.default_rng(seed)
    load = np.cumsum(rng.normal(0, 0.05, rows)) + 5 * np.sin(np.arange(rows) / 600)
    return np.column_stack([
        2.0 * load + rng.normal(0, 0.3 * quiet, rows),
        -1.5 * load + 40 + rng.normal(0, 0.3 * quiet, rows),
        0.8 * load + 10 + rng.normal(0, 0.2 * quiet, rows),
        20 + np.cumsum(rng.normal(0, 0.01, rows)) + rng.normal(0, 0.05 * quiet, rows),
    ])


TRAIN, LIVE = plant(3600, seed=1), plant(1800, seed=2)
PROFILES = fit_profiles(TRAIN, SPEC)


def found(values: np.ndarray) -> list:
    return findings(check_all(values, PROFILES, SPEC))


def test_normal_readings_raise_nothing():
    assert found(LIVE) == []


def test_a_quiet_but_live_sensor_is_not_frozen():
    """Ten times less noise than in training, still changing every reading: not frozen,
    whatever else it is."""
    quiet = LIVE.copy()
    quiet[:, 3] = 20 + np.random.default_rng(5).normal(0, 0.005, len(quiet))
    assert not [f for f in found(quiet) if f.check == "frozen"]


def test_a_coarse_sensor_repeating_its_value_is_not_frozen():
    """Quantised to a step larger than its noise, so it repeats its value for a few
    readings at a time in training and live alike."""
    coarse_train, coarse_live = TRAIN.copy(), LIVE.copy()
    coarse_train[:, 3], coarse_live[:, 3] = np.round(TRAIN[:, 3], 1), np.round(LIVE[:, 3], 1)
    profiles = fit_profiles(coarse_train, SPEC)
    assert profiles[3].longest_flat > 1
    assert not [f for f in findings(check_all(coarse_live, profiles, SPEC)) if f.check == "frozen"]


def test_a_stuck_sensor_is_frozen_from_where_it_stuck():
    stuck = LIVE.copy()
    stuck[600:720, 1] = stuck[600, 1]
    frozen = [f for f in found(stuck) if f.check == "frozen"]
    assert [(f.sensor, f.start, f.end) for f in frozen] == [(1, 600, 719)]


def test_a_spike_is_found_once_the_reading_is_back():
    spiked = LIVE.copy()
    step = PROFILES[0].step_sigma
    spiked[900:903, 0] += 12 * step
    since = instrument.spike(spiked[:, 0], PROFILES[0], SPEC)
    assert np.flatnonzero(since != NO_FLAG).tolist() == [903] and since[903] == 900  # causal: flagged at the return
    assert [(f.check, f.sensor, f.start, f.end) for f in found(spiked)] == [("spike", 0, 900, 902)]


def test_a_level_shift_is_not_a_spike():
    shifted = LIVE.copy()
    shifted[900:, 0] += 12 * PROFILES[0].step_sigma
    assert not [f for f in found(shifted) if f.check == "spike"]


def test_an_impossible_rate_of_change():
    jumped = LIVE.copy()
    jumped[1000:1003, 2] += 10 * instrument.SensorProfile(**vars(PROFILES[2])).largest_step
    rates = [f for f in found(jumped) if f.check == "rate"]
    assert {(f.sensor, f.start) for f in rates} == {(2, 1000), (2, 1003)}  # up, and down again


def test_a_dropout_while_the_others_report():
    gone = LIVE.copy()
    gone[300:340, 2] = np.nan
    gone[1200:1260, :] = np.nan  # the whole asset silent: no data, not an instrument fault
    drops = [f for f in found(gone) if f.check == "dropout"]
    assert [(f.sensor, f.start, f.end) for f in drops] == [(2, 300, 339)]


def test_drift_of_one_sensor_against_its_twins():
    drifting = LIVE.copy()
    drifting[600:1200, 1] += np.linspace(0, 12, 600)  # 40 noise sigmas over 10 minutes
    drifts = [f for f in found(drifting) if f.check == "drift"]
    assert [f.sensor for f in drifts] == [1]
    assert 480 <= drifts[0].start <= 800  # from the window in which the drift began to show


def test_the_process_moving_all_sensors_together_is_no_drift():
    moved = LIVE.copy()
    moved[600:1200, :3] += np.outer(np.linspace(0, 1, 600), [2.0 * 6, -1.5 * 6, 0.8 * 6])  # the load, +6
    assert not [f for f in found(moved) if f.check == "drift"]


def test_no_profiles_from_less_than_the_training_minimum():
    assert fit_profiles(TRAIN[:1000], SPEC) is None  # 1,000 rows < 1,800: no checks for that asset
    assert fit_profiles(TRAIN[:1000], InstrumentSpec(min_training_rows=1000)) is not None


def test_profiles_survive_json():
    assert [instrument.SensorProfile.from_json(p.to_json()) for p in PROFILES] == PROFILES


def test_a_spike_after_a_level_shift_is_still_found():
    """A shift that never comes back is the new normal: a later spike is measured against
    it (a row's flag depends on the last spike_context + spike_max rows only)."""
    shifted = LIVE.copy()
    step = PROFILES[0].step_sigma
    shifted[600:, 0] += 12 * step
    shifted[900:903, 0] += 12 * step
    assert [(f.start, f.end) for f in found(shifted) if f.check == "spike"] == [(900, 902)]


def test_a_frozen_check_that_would_need_more_than_the_lookback_is_not_made():
    flat_in_training = instrument.SensorProfile(1.0, 0.1, longest_flat=100, largest_step=3.0)
    stuck = np.full(1000, 5.0)
    assert (instrument.frozen(stuck, flat_in_training, SPEC) == NO_FLAG).all()  # 3 x 100 > lookback 240
    assert (instrument.frozen(stuck, flat_in_training, InstrumentSpec(lookback=400)) != NO_FLAG).any()
    with pytest.raises(ValueError, match="lookback"):
        InstrumentSpec(lookback=100)


def test_each_row_takes_the_condition_that_began_first():
    flags = {("spike", 0): np.array([NO_FLAG, 1, NO_FLAG, NO_FLAG]),
             ("frozen", 2): np.array([NO_FLAG, 0, 0, NO_FLAG]),
             ("drift", 1): np.array([NO_FLAG, NO_FLAG, 0, NO_FLAG])}
    check, sensor, since = instrument.condition_per_row(flags)
    assert [instrument.CHECKS[c] if c >= 0 else None for c in check] == [None, "frozen", "frozen", None]
    assert sensor.tolist() == [-1, 2, 2, -1] and since.tolist() == [NO_FLAG, 0, 0, NO_FLAG]


def test_two_sensors_leaving_their_twins_together_are_the_process_not_a_drift():
    """A fault of the process moves several sensors off the relations training saw (a
    cavitating pump: pressure and flow both drop): no instrument fails alone, so no drift."""
    both = LIVE.copy()
    both[600:1200, 0] += np.linspace(0, 12, 600)
    both[600:1200, 1] += np.linspace(0, 12, 600)
    assert not [f for f in found(both) if f.check == "drift"]
