"""The SKAB-shaped experiments: every kind generated, labelled as SKAB labels, shaped as described."""

import numpy as np
import pytest

from schemas import SENSORS
from sensorwatch.sources import experiments as ex
from sensorwatch.sources import simulator, skab

NAMES = {s.skab_column: s.name for s in SENSORS}


def _values(e: ex.Experiment) -> dict[str, np.ndarray]:
    return {NAMES[c]: e.frame[c].to_numpy() for c in NAMES}


def _z(values: np.ndarray) -> np.ndarray:
    """In units of the training rows' spread around their mean."""
    train = values[:ex.TRAIN_ROWS]
    return (values - train.mean()) / (train.std() + 1e-12)


@pytest.mark.parametrize("kind", ex.KINDS)
def test_each_kind_is_labelled_as_skab_labels_it(kind):
    e = ex.experiment(kind, seed=3)
    lo, hi = e.span
    anomaly, changepoint = e.frame["anomaly"].to_numpy(), e.frame["changepoint"].to_numpy()
    assert list(e.frame.columns) == [s.skab_column for s in SENSORS] + ["anomaly", "changepoint"]
    assert ex.ROWS[0] <= len(e.frame) < ex.ROWS[1] and e.frame.notna().all().all()
    assert ex.TRAIN_ROWS <= lo < hi <= len(e.frame)
    if e.kind.fault:
        assert anomaly[lo:hi].all() and not anomaly[:lo].any() and not anomaly[hi:].any()
        assert np.flatnonzero(changepoint).tolist() == [lo]
    else:
        assert not anomaly.any() and not changepoint.any()


@pytest.mark.parametrize("kind", list(ex.FAULTS))
def test_a_fault_moves_its_sensors_in_its_span_only(kind):
    """Before the onset every sensor stays within its training range; in the span at least
    one of the kind's sensors leaves it (a short impulse counts)."""
    e = ex.experiment(kind, seed=4)
    lo, hi = e.span
    values = _values(e)
    for name, v in values.items():
        if name not in ("temperature", "thermocouple"):  # covariates that drift slowly in a healthy pump
            assert np.abs(_z(v)[:lo]).max() < 6, (name, np.abs(_z(v)[:lo]).max())
    moved = {name: float(np.abs(_z(values[name])[lo:hi]).max()) for name in e.kind.sensors}
    assert max(moved.values()) > 6, moved


def _pump_curve() -> float:
    """Current per unit of flow, from a simulated pump whose load wanders widely for 2 hours."""
    v = simulator.normal_operation(np.random.default_rng(0), 7200)
    return float(np.polyfit(v["volume_flow_rate_rms"], v["current"], 1)[0])


@pytest.mark.parametrize("kind", ["load_step", "setpoint_ramp", "level_settled", "valve_inlet", "valve_outlet"])
def test_a_normal_regime_change_moves_the_operating_point_and_keeps_the_physics(kind):
    """The flow settles elsewhere, and current still follows flow along the pump's curve;
    a closed valve moves the flow too, but off the curve."""
    e = ex.experiment(kind, seed=5)
    v = _values(e)
    flow, current = v["volume_flow_rate_rms"], v["current"]
    lo, hi = e.span
    assert abs(_z(flow)[lo:hi][-100:].mean()) > 3  # it moved and stayed
    residual = current - _pump_curve() * flow
    spread = residual[:ex.TRAIN_ROWS].std()
    off_curve = abs(residual[lo:hi][-100:].mean() - residual[:ex.TRAIN_ROWS].mean()) / spread
    assert (off_curve > 2) == e.kind.fault, off_curve


def test_warm_up_rises_through_the_test_rows_with_the_load_unchanged():
    e = ex.experiment("warm_up", seed=6)
    v = _values(e)
    test = slice(ex.TRAIN_ROWS, None)
    assert v["temperature"][-100:].mean() - v["temperature"][test][:100].mean() > 3
    assert v["thermocouple"][-100:].mean() > v["thermocouple"][test][:100].mean()
    assert abs(_z(v["volume_flow_rate_rms"])[-150:].mean()) < 2


def test_impulses_are_single_rows():
    e = ex.experiment("imbalance_dirac", seed=7)
    lo, hi = e.span
    high = np.abs(_z(_values(e)["accelerometer1_rms"]))[lo:hi] > 8
    assert 2 <= high.sum() <= 6 and not (high[1:] & high[:-1]).any()


def test_experiments_are_deterministic_and_differ_by_seed():
    a, b, c = ex.experiment("fluid_leak", 1), ex.experiment("fluid_leak", 1), ex.experiment("fluid_leak", 2)
    assert a.frame.equals(b.frame) and not a.frame.equals(c.frame)


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError, match="known: valve_inlet, valve_outlet"):
        ex.experiment("meteor", 0)


def test_written_experiments_read_back_as_skab_files(tmp_path):
    paths = ex.write_experiments(tmp_path, kinds=("hot_water", "load_step"), per_kind=2, seed=1)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == \
        ["hot_water/0.csv", "hot_water/1.csv", "load_step/0.csv", "load_step/1.csv"]
    f = skab.read_file(paths[0], tmp_path)
    e = ex.experiment("hot_water", 1000)
    assert f.asset_id == "skab-hot_water-0" and len(f.frame) == len(e.frame)
    assert np.allclose(f.frame["thermocouple"].to_numpy(), e.frame["Thermocouple"].to_numpy())
    assert [(a.start, a.end) for a in skab.label_intervals(f)] == \
        [(f.frame.index[e.span[0]].to_pydatetime(), f.frame.index[e.span[1] - 1].to_pydatetime())]
