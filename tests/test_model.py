"""The model's parts without services: training, scoring, thresholds, metrics, save/load,
bad models, and the SKAB evaluation command on a few real SKAB files."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import covariates, residuals, threshold
from models.detector import FLEET, Detector, ModelError
from models.metrics import binary_scores
from models.spec import DetectorSpec
from schemas import SENSOR_NAMES
from schemas.features import column
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


def test_a_model_saved_before_the_baseline_loads_without_one_and_an_unknown_version_is_refused(detector, tmp_path):
    old = detector.save(tmp_path / "v2")
    meta = json.loads((old / "detector.json").read_text())
    assert meta["format_version"] == 4
    assert {"instrument_profiles", "forecast_profiles"} <= set(meta["calibrations"]["a1"])  # saved (None: too short)
    meta["format_version"] = 2
    for name in ("baseline_rows", "baseline_guard", "covariate_limit"):
        del meta["spec"][name]
    for cal in meta["calibrations"].values():
        del cal["covariates"], cal["instrument_profiles"], cal["forecast_profiles"]
    del meta["instrument_checks"], meta["short_forecasts"]
    (old / "detector.json").write_text(json.dumps(meta))
    loaded = Detector.load(old)
    assert loaded.spec.baseline_rows == 0 and loaded.calibrations["a1"].covariates is None  # scores as it did
    assert loaded.instrument_flags("a1", pd.DataFrame(columns=loaded.spec.columns)) == {}  # and checks nothing
    meta["format_version"] = 99
    (old / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="format_version 99"):
        Detector.load(old)


def test_the_baseline_absorbs_a_small_shift_but_never_a_large_one():
    rng = np.random.default_rng(4)
    signed = rng.normal(0, 0.3, (900, 2))
    signed[300:, 0] += 0.8  # a small move of the operating point (within the guard)
    signed[300:, 1] += 4.0  # a fault
    debiased = residuals.debias(signed, rows=200, guard=1.5, smoothing=30)
    assert abs(debiased[600:, 0].mean()) < 0.1  # absorbed within the baseline's rows
    assert debiased[600:, 1].mean() > 3.9  # never enters the baseline
    assert abs(debiased[310:330, 0].mean() - 0.8) < 0.2  # at first the small shift shows
    np.testing.assert_array_equal(residuals.debias(signed, 0, 1.5, 30), signed)  # 0 rows: no baseline
    # a row's value does not depend on where the computed range starts (replay = live)
    lookback = 200 + 30 - 1
    np.testing.assert_array_equal(residuals.debias(signed[400 - lookback:], 200, 1.5, 30)[lookback:], debiased[400:])


def test_the_baselines_window_means_are_the_means_of_the_finite_values():
    """The exact fixed-point window means (``residuals._window_means``) against numpy's
    mean of each window's finite values: equal to 1e-9, missing values skipped, counted."""
    rng = np.random.default_rng(11)
    values = rng.normal(0, 2.0, (500, 3))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[100:160, 1] = np.nan  # a window with nothing in it
    means, counts = residuals._window_means(values, 50)
    windows = np.lib.stride_tricks.sliding_window_view(values, 50, axis=0)
    assert means.shape == counts.shape == (451, 3)
    np.testing.assert_array_equal(counts, np.isfinite(windows).sum(axis=-1))
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmean(windows, axis=-1)
    np.testing.assert_allclose(means, expected, rtol=0, atol=1e-9)
    assert np.isnan(means[110, 1]) and counts[110, 1] == 0


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
    assert threshold.quantile_factor(normal, 1.0, 2.0) == 10.0
    assert threshold.quantile_factor(np.array([np.nan, 1.0, 3.0]), 0.5, 1.0) == 2.0
    with pytest.raises(ValueError):
        threshold.quantile_factor(np.array([np.nan]), 0.9, 1.0)
    scores = np.array([0, 5, 0, 5, 5, 5, 0, np.nan, 5, 5], dtype=float)
    assert threshold.flag(scores, 4.0).tolist() == [0, 1, 0, 1, 1, 1, 0, 0, 1, 1]
    assert threshold.flag(scores, 4.0, min_duration=2).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 1, 1]
    assert threshold.flag(scores, 4.0, min_duration=3).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert threshold.runs(np.array([1, 1, 0, 1], bool)) == [(0, 2), (3, 4)]


def test_errors_smooth_score_and_name_top_sensors_on_hand_made_values():
    err = np.array([[1.0, 2.0], [3.0, 2.0], [np.nan, 2.0]])
    np.testing.assert_allclose(residuals.smooth(err, 2)[:, 0], [1.0, 2.0, 3.0])  # NaN skipped
    score, contrib = residuals.score(np.array([[1.0, 3.0], [3.0, 1.0]]), smoothing=1)
    np.testing.assert_allclose(score, [np.sqrt(5.0), np.sqrt(5.0)])  # RMS over sensors
    np.testing.assert_allclose(contrib, [[0.1, 0.9], [0.9, 0.1]])  # shares of squared error
    score, _ = residuals.score(np.array([[1.0, 1.0], [3.0, 3.0]]), smoothing=2)
    np.testing.assert_allclose(score, [1.0, np.sqrt(5.0)])  # RMS over the last 2 rows
    assert residuals.top_sensors(np.array([[0.1, 0.6, 0.3]]), ("x", "y", "z"), 2) == [["y", "z"]]
    two_stats = np.array([[1.0, 3.0, 0.0, 0.0]])  # sensor 1 has two inputs: their mean
    np.testing.assert_allclose(residuals.per_sensor(residuals.signed_errors(np.zeros((1, 4)), two_stats), 2),
                               [[2.0, 0.0]])


def test_threshold_rules_on_hand_made_scores():
    ramp = np.arange(1.0, 101.0)  # median 50.5, 95 % quantile 95.05
    assert threshold.spread(ramp, 2.0) == pytest.approx(50.5 + 2 * 44.55)
    # a margin in spreads moves less than a factor on the level when scores sit far from 0
    level = 10.0 + np.linspace(0.0, 1.0, 101)
    moved = lambda rule, p: rule(level, 1.25 * p) / rule(level, p) - 1
    assert moved(threshold.spread, 3.0) < 0.05 < moved(lambda s, f: threshold.quantile_factor(s, 0.95, f), 1.2)
    # conformal: the ceil((n + 1)(1 - alpha))-th smallest; a budget below 1/(n + 1) is refused
    nineteen = np.arange(1.0, 20.0)
    assert threshold.conformal(nineteen, 0.1) == 18.0
    with pytest.raises(ValueError, match="cannot support a false-alarm budget"):
        threshold.conformal(nineteen, 0.01)
    # peaks over threshold: an exponential tail's 1e-3 quantile (-ln 1e-3 = 6.9), beyond the data seen
    exponential = -np.log(1 - (np.arange(2000) + 0.5) / 2000)  # exact exponential quantiles
    assert threshold.pot(exponential, 1e-3) == pytest.approx(6.91, rel=0.05)
    assert threshold.pot(exponential, 1e-4) > exponential.max() > threshold.pot(exponential, 1e-2)
    with pytest.raises(ValueError, match="too few"):
        threshold.pot(np.array([1.0, 2.0, 3.0]), 1e-3)
    # dispatch by name, as DetectorSpec names the rule
    assert threshold.calibrate(ramp, "spread", 2.0) == threshold.spread(ramp, 2.0)
    assert threshold.calibrate(ramp, "quantile_factor", 2.0) == threshold.quantile_factor(ramp, 0.95, 2.0)
    with pytest.raises(ValueError, match="unknown threshold rule"):
        threshold.calibrate(ramp, "magic", 1.0)
    # telemanom's dynamic threshold: a rare plateau is cut from the noise around it...
    rng = np.random.default_rng(0)
    series = 1.0 + 0.05 * rng.standard_normal(1000)
    series[500:530] = 3.0
    assert 1.2 < threshold.dynamic(series) < 3.0
    # ...but when anomalies are a third of the series (as on SKAB), mean + 2 std lies above them
    series[300:650] = 3.0
    assert threshold.dynamic(series) > 3.0


def test_score_ignores_covariates_and_reads_the_largest_errors():
    err = np.array([[1.0, 2.0, 9.0], [3.0, 0.0, 9.0]])
    scored = np.array([True, True, False])  # the third sensor is a covariate: never evidence
    score, contrib = residuals.score(err, smoothing=1, scored=scored)
    np.testing.assert_allclose(score, [np.sqrt(2.5), np.sqrt(4.5)])  # RMS over the scored two
    np.testing.assert_allclose(contrib, [[0.2, 0.8, 0.0], [1.0, 0.0, 0.0]])
    top1, _ = residuals.score(err, smoothing=1, scored=scored, top_k=1)
    np.testing.assert_allclose(top1, [2.0, 3.0])  # the largest scored error only


def test_a_covariate_is_evidence_only_beyond_its_range_and_moving_fast():
    rng = np.random.default_rng(3)
    train = np.c_[20 + 0.1 * rng.normal(size=400)]  # range about 0.6, largest 60-row change about 0.5
    seen = covariates.fit(train)
    assert seen.low[0] < 20 < seen.high[0] and 0 < seen.change[0] < 1
    t = np.arange(600)
    inside = np.c_[20 + 0.1 * rng.normal(size=600)]
    warm_up = inside + np.c_[np.minimum(t, 500) * 0.004]  # leaves the range by 3 ranges, slowly
    hot = inside + np.c_[np.where(t >= 300, 15 * (1 - np.exp(-(t - 300) / 60)), 0.0)]  # 15 K within minutes
    assert covariates.evidence(inside, seen).max() < 0.5  # new noise: at most a little beyond the range
    assert 0 < covariates.evidence(warm_up, seen).max() < 2  # far out, but hardly faster than training
    evidence = covariates.evidence(hot, seen)[:, 0]
    assert evidence[:300].max() < 0.5 and evidence[330:420].min() > 5
    assert covariates.evidence(np.c_[np.full(600, np.nan)], seen).max() == 0.0  # missing: no evidence
    assert not covariates.evidence(hot, seen)[:covariates.LAG].any()  # no change known yet


def test_a_hot_water_supply_is_flagged_through_the_covariate_and_named(detector):
    rows = sine_rows(300, 1)
    t = np.arange(300)
    rows[column("thermocouple", "mean")] += np.where(t >= 150, 30 * (1 - np.exp(-(t - 150) / 20)), 0.0)
    scored = detector.score("a1", rows)
    assert not scored["is_anomaly"].iloc[:150].any()
    assert scored["is_anomaly"].iloc[165:200].all()  # while it climbs far beyond training
    assert set(scored["top_sensors"].iloc[165:200].str[0]) == {"thermocouple"}
    assert not scored["is_anomaly"].iloc[280:].any()  # settled: a new level, no longer moving
    quiet = Detector(replace(SPEC, covariate_limit=0.0), detector.model, detector.calibrations)
    assert not quiet.score("a1", rows)["is_anomaly"].iloc[165:200].any()  # a covariate alone: never evidence
    # a model saved before covariate ranges were kept scores as it did
    old = Detector(SPEC, detector.model, {a: replace(c, covariates=None) for a, c in detector.calibrations.items()})
    assert not old.score("a1", rows)["is_anomaly"].iloc[165:200].any()


def test_event_and_nab_metrics_on_hand_made_series():
    from models.metrics import event_scores, nab_scores

    truth = np.array([0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0], bool)  # two events
    flags = np.array([0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0], bool)  # hits the first; two false runs
    e = event_scores([truth], [flags])
    assert (e.events, e.detected, e.false_events) == (2, 1, 2)
    assert e.recall == 0.5 and e.precision == pytest.approx(1 / 3)
    t = np.arange(0.0, 1200.0, 100.0)  # 100 s per row
    cps = np.zeros(12, bool)
    cps[[1, 4, 7, 9]] = True  # as SKAB marks them: each event's first row and the first row after it
    # flags switching exactly at every changepoint score A_tp = 1 each: 100 in every profile
    assert nab_scores([t], [cps], [truth], window_s=150) == {"standard": 100.0, "low_fp": 100.0, "low_fn": 100.0}
    assert nab_scores([t], [cps], [np.zeros(12, bool)], window_s=150)["standard"] == 0.0  # nothing found
    # flags switch at 200 s, 500 s and 1000 s (late in a window), 700 s (at a changepoint), and at
    # 300 s and 1100 s, outside every window: two false positives
    late = nab_scores([t], [cps], [flags], window_s=150)
    assert 0 < late["low_fp"] < late["standard"] < 100


def test_our_metrics_are_skab_evaluators_arithmetic():
    """The same flags through models.metrics and through TSAD (the evaluator SKAB's
    leaderboard comes from): binary F1/FAR/MAR exactly as it rounds them, NAB to its rounding."""
    from tsad.utils.evaluating.evaluating import evaluating

    from models.metrics import nab_scores
    from sensorwatch.sources import skab

    truths, flags, cps, times, cp_series, pred_cp, truth_series, pred_series = [], [], [], [], [], [], [], []
    for i, name in enumerate(["valve1/1.csv", "valve1/4.csv", "valve2/0.csv"]):
        frame = skab.read_file(Path(SKAB_DIR) / name, Path(SKAB_DIR)).frame.iloc[400:]
        truth = frame["anomaly"].to_numpy() > 0.5
        flag = np.roll(truth, 25 * (i + 1))  # late detections, and a late end
        flag[40 + 30 * i:90 + 30 * i] = True  # a false run
        index = frame.index.tz_localize(None)
        truths.append(truth)
        flags.append(flag)
        cps.append(frame["changepoint"].to_numpy() > 0.5)
        times.append((index - pd.Timestamp(0)).total_seconds().to_numpy())
        truth_series.append(pd.Series(truth.astype(int), index=index))
        pred_series.append(pd.Series(flag.astype(int), index=index))
        cp_series.append(pd.Series(cps[-1].astype(int), index=index))
        predicted = pred_series[-1].diff().abs()
        predicted.iloc[0] = pred_series[-1].iloc[0]  # as SKAB's notebooks derive changepoints from flags
        pred_cp.append(predicted)
    ours = binary_scores(np.concatenate(truths), np.concatenate(flags))
    f1, far, mar = evaluating(truth_series, pred_series, metric="binary")
    assert (round(ours.f1, 2), round(ours.far, 2), round(ours.mar, 2)) == (f1, far, mar)
    theirs = evaluating(cp_series, pred_cp, metric="nab", window_width="60s", anomaly_window_destination="righter",
                        intersection_mode="cut right window")
    mine = nab_scores(times, cps, flags, window_s=60)
    assert mine == {"standard": theirs["Standard"], "low_fp": theirs["LowFP"], "low_fn": theirs["LowFN"]}
    assert mine["standard"] != 0.0  # the case exercises detections, misses and false positives


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
    with pytest.raises(ValueError, match="covariates"):
        DetectorSpec(covariates=("humidity",))
    with pytest.raises(ValueError, match="threshold_rule"):
        DetectorSpec(threshold_rule="magic")
    with pytest.raises(ValueError, match="calibrate_on"):
        DetectorSpec(calibrate_on="test")
    with pytest.raises(ValueError, match="covariate_limit"):
        DetectorSpec(covariate_limit=-1.0)
    with pytest.raises(ValueError, match="baseline_guard"):
        DetectorSpec(baseline_guard=0.0)
    assert DetectorSpec(baseline_rows=0).lookback_rows < DetectorSpec().lookback_rows  # the baseline reads history
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
    assert set(last) == {"f1", "far", "mar", "files", "nab_standard", "event_precision", "event_recall",
                         "worst_folder"}
    assert last["files"] == 2 and 0 <= last["f1"] <= 1 and 0 <= last["event_recall"] <= 1
    assert any("Conv-AE" in line for line in lines) and any("this run" in line for line in lines)
    # the three tables: outliers, changepoints (NAB), events
    assert any("MSCRED" in line for line in lines) and any("false events" in line for line in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert [f["file"] for f in summary["per_file"]] == ["skab-valve1-1", "skab-valve2-0"]
    assert summary["pooled"]["f1"] == last["f1"]
    # Every test row of both files is scored (the first 400 rows of each train).
    assert summary["pooled"]["test_rows"] == sum(f["test_rows"] for f in summary["per_file"]) > 1000
    assert sorted(p.name for p in out.glob("*.png")) == ["skab-valve1-1.png", "skab-valve2-0.png"]
    # per folder, and the worst of them by FAR, then F1
    folders = summary["per_folder"]
    assert set(folders) == {"valve1", "valve2"} and all(f["files"] == 1 for f in folders.values())
    assert last["worst_folder"] == max(folders, key=lambda f: (folders[f]["far"], -folders[f]["f1"]))
    assert any(line.endswith("<- worst") and line.startswith(last["worst_folder"]) for line in lines)


def test_evaluate_experiments_scores_each_kind_as_a_folder(tmp_path, capsys, monkeypatch):
    """The simulated experiments go through the same protocol: a fault kind and a normal
    regime change, each its own folder; the normal one has no events, only its false alarms."""
    from sensorwatch.cli import main

    monkeypatch.setenv("SENSORWATCH__MODEL__DETECTOR__EPOCHS", "2")
    out = tmp_path / "exp"
    assert main(["evaluate", "experiments", "--kinds", "imbalance_sharp", "load_step", "--per-kind", "1",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(p.relative_to(out / "data").as_posix() for p in (out / "data").rglob("*.csv")) == \
        ["imbalance_sharp/0.csv", "load_step/0.csv"]
    folders = summary["per_folder"]
    assert folders["imbalance_sharp"]["events"] == 1 and folders["load_step"]["events"] == 0
    assert summary["worst_folder"] in folders
    assert main(["evaluate", "experiments", "--kinds", "meteor", "--out", str(out)]) == 2
    assert "unknown experiment kind(s) meteor" in capsys.readouterr().err


def test_evaluate_refuses_a_folder_not_in_skab_format(tmp_path, capsys):
    from sensorwatch.cli import main

    (tmp_path / "x.csv").write_text("a;b\n1;2\n")
    assert main(["evaluate", "skab", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not in SKAB format: missing column(s) Accelerometer1RMS" in capsys.readouterr().err
    assert main(["evaluate", "skab", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 1
    assert "not found" in capsys.readouterr().err
