"""Event sources: the simulator's ground truth is real, SKAB files replay row for row."""

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from schemas import SENSOR_NAMES
from sensorwatch.sources import simulator, skab
from sensorwatch.sources.produce import bad_payloads, encode_event, events

from .conftest import SKAB_DIR

START = datetime(2026, 11, 1, tzinfo=UTC)


def _index(series, when):
    return int((when - START).total_seconds())


def test_simulation_is_deterministic_and_sized():
    a = simulator.simulate(3, 4000, START, seed=1)
    b = simulator.simulate(3, 4000, START, seed=1)
    c = simulator.simulate(3, 4000, START, seed=2)
    assert [s.asset_id for s in a] == ["pump-0000", "pump-0001", "pump-0002"]
    assert all(s.length == 4000 and set(s.values) == set(SENSOR_NAMES) for s in a)
    assert np.array_equal(a[1].values["current"], b[1].values["current"])
    assert not np.array_equal(a[1].values["current"], c[1].values["current"])


def test_signals_are_correlated_like_a_pump():
    s = simulator.simulate(1, 6000, START, seed=3, anomalies_per_asset=0)[0].values
    corr = lambda x, y: np.corrcoef(s[x], s[y])[0, 1]
    assert corr("current", "volume_flow_rate_rms") > 0.8
    assert corr("pressure", "volume_flow_rate_rms") < -0.8
    assert corr("accelerometer1_rms", "accelerometer2_rms") > 0.5


@pytest.mark.parametrize("kind", simulator.ANOMALY_KINDS)
def test_each_injected_anomaly_is_where_the_ground_truth_says(kind):
    rng = np.random.default_rng(11)
    clean = simulator.normal_operation(np.random.default_rng(5), 3000)
    dirty = {k: v.copy() for k, v in clean.items()}
    sensors = simulator._inject(rng, dirty, kind, 1500, 1700 if kind != "spike" else 1503)
    hi = 1700 if kind != "spike" else 1503
    for name in SENSOR_NAMES:
        inside_changed = not np.allclose(dirty[name][1500:hi], clean[name][1500:hi])
        outside_same = np.array_equal(np.delete(dirty[name], np.s_[1500:hi]), np.delete(clean[name], np.s_[1500:hi]))
        assert outside_same, f"{kind} changed {name} outside its interval"
        assert inside_changed == (name in sensors), f"{kind}: {name} changed={inside_changed}"
    if kind == "stuck":
        assert np.ptp(dirty[sensors[0]][1500:hi]) == 0
    if kind == "spike":
        noise = np.std(np.diff(clean[sensors[0]]))
        assert np.max(np.abs(dirty[sensors[0]][1500:hi] - clean[sensors[0]][1500:hi])) > 5 * noise


def test_ground_truth_intervals_do_not_overlap_and_fit():
    for s in simulator.simulate(4, 7200, START, seed=9, anomalies_per_asset=4):
        assert len(s.anomalies) == 4 and {a.asset_id for a in s.anomalies} == {s.asset_id}
        spans = sorted((_index(s, a.start), _index(s, a.end)) for a in s.anomalies)
        assert spans[0][0] >= simulator.WARMUP_S and spans[-1][1] < 7200
        assert all(prev[1] < nxt[0] for prev, nxt in zip(spans, spans[1:]))


def test_an_anomaly_free_lead_in_keeps_every_anomaly_after_it():
    lead_in = 3600
    for s in simulator.simulate(3, 7200, START, seed=4, anomalies_per_asset=3, warmup_s=lead_in):
        assert len(s.anomalies) == 3
        assert min(_index(s, a.start) for a in s.anomalies) >= lead_in
    with pytest.raises(ValueError, match="3600s anomaly-free lead-in"):
        simulator.simulate(1, 5000, START, anomalies_per_asset=3, warmup_s=lead_in)


def test_too_short_for_anomalies_is_a_clear_error():
    with pytest.raises(ValueError, match="too short"):
        simulator.simulate(1, 900, START, anomalies_per_asset=3)


def test_events_are_wire_json_interleaved_by_time():
    series = simulator.simulate(3, 50, START, seed=1, anomalies_per_asset=0)
    msgs = list(events(series))
    assert len(msgs) == 150
    bodies = [json.loads(v) for _, v in msgs]
    assert [b["asset_id"] for b in bodies[:3]] == ["pump-0000", "pump-0001", "pump-0002"]
    assert [m[0] for m in msgs[:3]] == [b"pump-0000", b"pump-0001", b"pump-0002"]
    times = [b["event_time"] for b in bodies]
    assert times == sorted(times) and times[0] == int(START.timestamp() * 1000)
    assert bodies[4]["current"] == pytest.approx(series[1].values["current"][1], rel=1e-6)


def test_missing_readings_encode_as_null():
    body = json.loads(encode_event("a", 1, 0, {"current": float("nan"), "pressure": 1.0}))
    assert body["current"] is None and body["pressure"] == 1.0 and body["voltage"] is None


def test_bad_payload_kinds_cycle():
    bad = bad_payloads(22)
    assert len({reason for reason, _ in bad}) == 11 and len({p for _, p in bad}) >= 20


def test_skab_file_becomes_one_asset_row_for_row():
    data = Path(SKAB_DIR)
    path = data / "valve1" / "3.csv"
    f = skab.read_file(path, data)
    series = skab.as_series(f)
    lines = path.read_text().splitlines()
    assert f.asset_id == "skab-valve1-3" and series.length == len(lines) - 1
    first = lines[1].split(";")
    assert series.values["current"][0] == pytest.approx(float(first[3]))
    assert series.times_ms[0] == int(datetime.fromisoformat(first[0]).replace(tzinfo=UTC).timestamp() * 1000)
    labelled = sum(int(float(line.split(";")[9])) for line in lines[1:])
    to_ms = lambda t: int(t.timestamp() * 1000)
    inside = sum(int(((series.times_ms >= to_ms(a.start)) & (series.times_ms <= to_ms(a.end))).sum())
                 for a in series.anomalies)
    assert labelled > 0 and inside == labelled


def test_skab_shift_keeps_spacing():
    data = Path(SKAB_DIR)
    f = skab.read_file(data / "valve2" / "0.csv", data)
    original, shifted = skab.as_series(f), skab.as_series(f, START)
    assert shifted.times_ms[0] == int(START.timestamp() * 1000)
    assert np.array_equal(np.diff(original.times_ms), np.diff(shifted.times_ms))


def test_skab_wrong_folder_and_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        skab.list_files(tmp_path / "nope")
    (tmp_path / "x.csv").write_text("a;b\n1;2\n")
    with pytest.raises(ValueError, match="not in SKAB format"):
        skab.read_file(tmp_path / "x.csv", tmp_path)
