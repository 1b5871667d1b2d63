"""The model's parts without services: training, scoring, thresholds, metrics, save/load,
bad models, and the SKAB evaluation command on a few real SKAB files."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from features.definitions import column
from models import errors, threshold
from models.detector import FLEET, Detector, ModelError
from models.metrics import binary_scores
from models.spec import DetectorSpec
from schemas import SENSOR_NAMES
from tests.conftest import SKAB_DIR

SPEC = DetectorSpec(window=10, units=16, epochs=15, patience=5, smoothing=5, batch_size=32, learning_rate=0.01,
                    min_duration=3)


def sine_rows(n: int, seed: int, spike_at: int | None = None, sensor: str = "pressure") -> pd.DataFrame:
    """Periodic, slightly noisy signals on every sensor; optionally one sensor jumps."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    rows = pd.DataFrame({"asset_id": f"a{seed}",
                         "interval_start": pd.Timestamp("2026-01-01") + pd.to_timedelta(t, "s")})
    for i, s in enumerate(SENSOR_NAMES):
        rows[column(s, "mean")] = 10 * i + np.sin(t / (5 + i)) + rng.normal(0, 0.05, n)
    if spike_at is not None:
        rows.loc[spike_at:spike_at + 19, column(sensor, "mean")] += 8.0
    return rows


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.fit({"a1": sine_rows(300, 1), "a2": sine_rows(300, 2)}, SPEC)


def test_loss_falls_on_a_tiny_set(detector):
    loss = detector.training["history"]["loss"]
    assert loss[-1] < loss[0] / 2
    assert detector.training["device"] in ("CPU", "GPU") and detector.training["windows_val"] > 0


def test_each_asset_gets_its_own_calibration_and_a_fleet_default(detector):
    assert set(detector.calibrations) == {"a1", "a2", FLEET}
    a1, fleet = detector.calibrations["a1"], detector.calibrations[FLEET]
    assert len(a1.mean) == len(a1.std) == len(SPEC.columns) and a1.threshold > 0
    assert detector.calibration("never-seen") is fleet


def test_a_jump_in_one_sensor_is_flagged_and_named_first(detector):
    rows = sine_rows(300, 1, spike_at=200, sensor="pressure")
    scored = detector.score("a1", rows)
    assert scored["score"].iloc[:SPEC.window].isna().all()  # no forecast without a full window
    assert not scored["is_anomaly"].iloc[:190].any()
    # The score is a trailing mean over `smoothing` rows: it rises within a few rows.
    assert scored["is_anomaly"].iloc[200 + SPEC.smoothing:220].all()
    assert scored["top_sensors"].iloc[210][0] == "pressure"
    contributions = np.stack(scored["contributions"].iloc[SPEC.window:].to_numpy())
    np.testing.assert_allclose(contributions.sum(axis=1), 1.0)


def test_save_and_load_give_identical_scores(detector, tmp_path):
    rows = sine_rows(200, 2, spike_at=120)
    loaded = Detector.load(detector.save(tmp_path / "d"))
    pd.testing.assert_frame_equal(detector.score("a2", rows).drop(columns="contributions"),
                                  loaded.score("a2", rows).drop(columns="contributions"))
    assert loaded.spec == detector.spec and loaded.calibrations == detector.calibrations


def test_missing_or_corrupt_model_files_give_a_clear_error(detector, tmp_path):
    with pytest.raises(ModelError, match="missing detector.json, model.keras"):
        Detector.load(tmp_path / "nothing-here")
    good = detector.save(tmp_path / "good")
    broken_meta = shutil.copytree(good, tmp_path / "meta")
    (broken_meta / "detector.json").write_text("{ not json")
    with pytest.raises(ModelError, match="corrupt model metadata"):
        Detector.load(broken_meta)
    other_sensors = shutil.copytree(good, tmp_path / "sensors")
    meta = json.loads((other_sensors / "detector.json").read_text())
    meta["sensors"] = ["a", "b"]
    (other_sensors / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="built for sensors"):
        Detector.load(other_sensors)
    broken_model = shutil.copytree(good, tmp_path / "model")
    (broken_model / "model.keras").write_bytes(b"truncated")
    with pytest.raises(ModelError, match="corrupt model file"):
        Detector.load(broken_model)


def test_rows_without_the_model_columns_are_refused(detector):
    with pytest.raises(ModelError, match="pressure__mean"):
        detector.score("a1", sine_rows(50, 1).drop(columns=[column("pressure", "mean")]))


def test_missing_readings_in_training_data_do_not_spoil_the_loss():
    rows = sine_rows(300, 1)
    rows.loc[[50, 120, 260], column("pressure", "mean")] = np.nan  # sensor gaps, as features flag them
    trained = Detector.fit({"a1": rows}, SPEC)
    assert np.isfinite(trained.training["history"]["loss"]).all()
    assert np.isfinite(trained.training["history"]["val_loss"]).all()
    assert trained.calibrations["a1"].threshold > 0
    scored = trained.score("a1", rows)
    assert np.isfinite(scored["score"].iloc[SPEC.window:]).all()  # a missing target counts as no error


def test_too_little_data_to_train_is_a_clear_error():
    with pytest.raises(ValueError, match="more than window"):
        Detector.fit({"a": sine_rows(SPEC.window, 1)}, SPEC)


def test_threshold_calibration_and_pruning_on_hand_made_scores():
    normal = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert threshold.calibrate(normal, 1.0, 2.0) == 10.0
    assert threshold.calibrate(np.array([np.nan, 1.0, 3.0]), 0.5, 1.0) == 2.0
    with pytest.raises(ValueError):
        threshold.calibrate(np.array([np.nan]), 0.9, 1.0)
    scores = np.array([0, 5, 0, 5, 5, 5, 0, np.nan, 5, 5], dtype=float)
    assert threshold.flag(scores, 4.0).tolist() == [0, 1, 0, 1, 1, 1, 0, 0, 1, 1]
    assert threshold.flag(scores, 4.0, min_duration=2).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 1, 1]
    assert threshold.flag(scores, 4.0, min_duration=3).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert threshold.runs(np.array([1, 1, 0, 1], bool)) == [(0, 2), (3, 4)]


def test_errors_smooth_score_and_name_top_sensors_on_hand_made_values():
    err = np.array([[1.0, 2.0], [3.0, 2.0], [np.nan, 2.0]])
    np.testing.assert_allclose(errors.smooth(err, 2)[:, 0], [1.0, 2.0, 3.0])  # NaN skipped
    score, contrib = errors.score(np.array([[1.0, 3.0], [3.0, 1.0]]), smoothing=1)
    np.testing.assert_allclose(score, [np.sqrt(5.0), np.sqrt(5.0)])  # RMS over sensors
    np.testing.assert_allclose(contrib, [[0.1, 0.9], [0.9, 0.1]])  # shares of squared error
    score, _ = errors.score(np.array([[1.0, 1.0], [3.0, 3.0]]), smoothing=2)
    np.testing.assert_allclose(score, [1.0, np.sqrt(5.0)])  # RMS over the last 2 rows
    assert errors.top_sensors(np.array([[0.1, 0.6, 0.3]]), ("x", "y", "z"), 2) == [["y", "z"]]
    two_stats = np.array([[1.0, 3.0, 0.0, 0.0]])  # sensor 1 has two inputs: their mean
    np.testing.assert_allclose(errors.sensor_errors(np.zeros((1, 4)), two_stats, 2), [[2.0, 0.0]])


def test_metrics_on_hand_made_labels():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    pred = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], bool)  # TP 3, FN 1, FP 1, TN 5
    s = binary_scores(truth, pred)
    assert s.f1 == pytest.approx(6 / 8) and s.far == pytest.approx(100 / 6) and s.mar == pytest.approx(25.0)
    with pytest.raises(ValueError, match="shape"):
        binary_scores(truth, pred[:5])


def test_detector_spec_rejects_bad_settings():
    with pytest.raises(ValueError, match="inputs"):
        DetectorSpec(inputs=("median",))
    with pytest.raises(ValueError, match="window"):
        DetectorSpec(window=0)
    with pytest.raises(ValueError, match="unknown detector setting"):
        DetectorSpec.from_dict({"widnow": 30})
    assert DetectorSpec(inputs=("mean", "roll_std")).columns[:2] == [column(SENSOR_NAMES[0], "mean"),
                                                                    column(SENSOR_NAMES[0], "roll_std")]


def test_bad_model_settings_in_config_name_the_section():
    from sensorwatch.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="model"):
        load_settings("local", environ={"SENSORWATCH__MODEL__DETECTOR__WINDOW": "0"})


def test_evaluate_skab_prints_the_table_and_writes_plots_and_summary(tmp_path, capsys, monkeypatch):
    from sensorwatch.cli import main

    monkeypatch.setenv("SENSORWATCH__MODEL__DETECTOR__EPOCHS", "3")  # the protocol, not the score
    out = tmp_path / "eval"
    assert main(["evaluate", "skab", "--data", SKAB_DIR, "--files", "valve1/1.csv", "valve2/0.csv",
                 "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    last = json.loads(lines[-1])
    assert set(last) == {"f1", "far", "mar", "files"} and last["files"] == 2 and 0 <= last["f1"] <= 1
    assert any("Conv-AE" in line for line in lines) and any("this run" in line for line in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert [f["file"] for f in summary["per_file"]] == ["skab-valve1-1", "skab-valve2-0"]
    assert summary["pooled"]["f1"] == last["f1"]
    # Every test row of both files is scored (the first 400 rows of each train).
    assert summary["pooled"]["test_rows"] == sum(f["test_rows"] for f in summary["per_file"]) > 1000
    assert sorted(p.name for p in out.glob("*.png")) == ["skab-valve1-1.png", "skab-valve2-0.png"]


def test_evaluate_refuses_a_folder_not_in_skab_format(tmp_path, capsys):
    from sensorwatch.cli import main

    (tmp_path / "x.csv").write_text("a;b\n1;2\n")
    assert main(["evaluate", "skab", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not in SKAB format: missing column(s) Accelerometer1RMS" in capsys.readouterr().err
    assert main(["evaluate", "skab", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 1
    assert "not found" in capsys.readouterr().err
