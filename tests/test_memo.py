"""The forward pass's memo (``models.memo``): a cycle that finds the previous cycle's
windows forecasts only the new ones and scores every row with the same bits as without the
memo; a changed input row (a late event), an unreadable file and another network each
cost a forecast, never a wrong score."""

import logging
import os
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.detector import Detector
from models.memo import STALE_S, ForecastMemo
from models.onnx_network import OnnxPredictor
from models.serving import Grid, score_frame
from schemas.features import column
from sensorwatch.config import REPO_ROOT
from tests.test_model import SPEC, sine_rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CYCLE = 60  # seconds (rows) a cycle scores


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> Detector:
    fitted = Detector.fit({"a1": sine_rows(300, 1), "a2": sine_rows(300, 2)}, SPEC)
    return Detector.load(fitted.save(tmp_path_factory.mktemp("model")))  # as a worker has it: the ONNX scorer


def fleet() -> pd.DataFrame:
    return pd.concat([sine_rows(600, 1, spike_at=400), sine_rows(600, 2)], ignore_index=True)


def cycle(k: int) -> Grid:
    """The k-th cycle's grid: it scores [200 + k x CYCLE, 200 + (k + 1) x CYCLE) s."""
    start = T0 + timedelta(seconds=200 + k * CYCLE)
    return Grid.for_range(start, start + timedelta(seconds=CYCLE), 1, SPEC.lookback_rows)


def memo_of(detector: Detector, tmp_path) -> ForecastMemo:
    memo = ForecastMemo.open(tmp_path / "memo", detector.onnx_graph(), detector.scorer)
    assert memo is not None
    return memo


def test_the_network_gives_a_window_the_same_bits_in_any_batch(detector):
    """The memo's premise: ONNX Runtime's forecast of a window does not depend on the
    windows beside it in the batch."""
    windows = np.random.default_rng(3).normal(size=(300, SPEC.window, len(SPEC.columns))).astype(np.float32)
    predictor = OnnxPredictor(detector.onnx_graph())
    whole = predictor(windows)
    for part in (np.arange(7, 300), np.arange(0, 300, 5), np.array([123]), np.arange(299, -1, -1)):
        np.testing.assert_array_equal(predictor(windows[part]), whole[part])


def test_the_next_cycle_forecasts_only_its_new_windows_and_scores_the_same_bits(detector, tmp_path):
    rows, memo = fleet(), memo_of(detector, tmp_path)
    first = score_frame(detector, rows, cycle(0), memo=memo)
    assert memo.reused == 0 and memo.forecast == 2 * (len(cycle(0).index()) - SPEC.window)
    for k in (1, 2, 3):  # each cycle finds the one before
        reused, forecast = memo.reused, memo.forecast
        with_memo = score_frame(detector, rows, cycle(k), memo=memo)
        pd.testing.assert_frame_equal(with_memo, score_frame(detector, rows, cycle(k)), check_exact=True)
        assert memo.forecast - forecast == 2 * CYCLE  # the new intervals' windows only
        assert memo.reused - reused == 2 * (len(cycle(k).index()) - SPEC.window - CYCLE)
    assert first["is_anomaly"].sum() == 0 and with_memo["is_anomaly"].sum() > 0  # the spike at 400 s is scored
    assert sorted(p.name for p in memo.directory.iterdir()) == ["a1.npz", "a2.npz"]


def test_a_late_event_in_the_lookback_costs_the_windows_over_it_and_changes_the_scores_as_without_memo(
        detector, tmp_path):
    rows, memo = fleet(), memo_of(detector, tmp_path)
    score_frame(detector, rows, cycle(0), memo=memo)
    late = rows.copy()
    changed = (late.asset_id == "a1") & (late.interval_start == pd.Timestamp(T0.replace(tzinfo=None))
                                          + pd.Timedelta(seconds=240))
    late.loc[changed, column("pressure", "mean")] += 3.0  # a late event moved one interval's mean
    forecast = memo.forecast
    with_memo = score_frame(detector, late, cycle(1), memo=memo)
    pd.testing.assert_frame_equal(with_memo, score_frame(detector, late, cycle(1)), check_exact=True)
    assert memo.forecast - forecast == 2 * CYCLE + SPEC.window  # and the windows that hold the changed row
    unchanged = score_frame(detector, rows, cycle(1))
    a1 = (with_memo.asset_id == "a1").to_numpy()
    assert not np.array_equal(with_memo["score"].to_numpy()[a1], unchanged["score"].to_numpy()[a1])


def test_an_unreadable_or_foreign_memo_is_a_miss_and_is_written_again(detector, tmp_path, caplog):
    rows, memo = fleet(), memo_of(detector, tmp_path)
    score_frame(detector, rows, cycle(0), memo=memo)
    (memo.directory / "a1.npz").write_bytes(b"not a memo")
    np.savez(memo.directory / "a2.npz", times=np.arange(3), inputs=np.zeros((3, 2)), forecasts=np.zeros((3, 2)))
    np.savez(memo.directory / "a3.npz", times=np.zeros(0, np.int64), inputs=np.zeros((0, len(SPEC.columns)), np.float32),
             forecasts=np.zeros((0, len(SPEC.columns)), np.float32))  # an empty memo: a miss, not an error
    rows = pd.concat([rows, sine_rows(600, 3)], ignore_index=True)
    forecast = memo.forecast
    with caplog.at_level(logging.WARNING, logger="models.memo"):
        with_memo = score_frame(detector, rows, cycle(1), memo=memo)
    pd.testing.assert_frame_equal(with_memo, score_frame(detector, rows, cycle(1)), check_exact=True)
    assert memo.forecast - forecast == 3 * (len(cycle(1).index()) - SPEC.window)  # nothing recalled
    assert "a1 unreadable" in caplog.text and "a2 does not fit" in caplog.text and "a3 does not fit" in caplog.text
    reused = memo.reused
    score_frame(detector, rows, cycle(2), memo=memo)  # the files written again by the miss
    assert memo.reused - reused == 3 * (len(cycle(2).index()) - SPEC.window - CYCLE)


def test_another_network_or_scorer_never_reads_this_ones_memo(detector, tmp_path):
    mine = memo_of(detector, tmp_path)
    assert ForecastMemo.open(tmp_path / "memo", detector.onnx_graph() + b" ", "onnx").directory != mine.directory
    assert ForecastMemo.open(tmp_path / "memo", detector.onnx_graph(), "tensorflow").directory != mine.directory
    assert ForecastMemo.open(tmp_path / "memo", detector.onnx_graph(), detector.scorer).directory == mine.directory


def test_a_memo_that_cannot_be_made_is_off_and_scoring_goes_on(detector, tmp_path, caplog):
    (tmp_path / "taken").write_text("a file where the memo's directory would be")
    with caplog.at_level(logging.WARNING, logger="models.memo"):
        assert ForecastMemo.open(tmp_path / "taken", detector.onnx_graph(), detector.scorer) is None
    assert "forecast memo off" in caplog.text
    assert ForecastMemo.open("", detector.onnx_graph(), detector.scorer) is None


def test_the_memo_directory_is_off_when_empty_and_relative_to_the_checkout(base_settings):
    settings = base_settings
    assert settings.with_overrides(predict={"memo_dir": ""}).predict.memo_path is None
    assert settings.with_overrides(predict={"memo_dir": "var/m"}).predict.memo_path == str(REPO_ROOT / "var/m")
    assert settings.with_overrides(predict={"memo_dir": "/tmp/m"}).predict.memo_path == "/tmp/m"


def test_a_retired_networks_memo_is_removed_when_it_has_not_been_used_for_a_week(detector, tmp_path):
    old, recent = tmp_path / "memo" / "onnx-retired", tmp_path / "memo" / "onnx-other"
    for directory in (old, recent):
        directory.mkdir(parents=True)
        (directory / "a1.npz").write_bytes(b"")
    os.utime(old, (time.time() - STALE_S - 60,) * 2)
    mine = memo_of(detector, tmp_path)
    assert sorted(d.name for d in (tmp_path / "memo").iterdir()) == sorted([mine.directory.name, "onnx-other"])


def test_a_forecast_is_recalled_only_for_the_rows_it_was_made_from(tmp_path):
    """The memo's rows on a 1 s grid: a frame on the same grid recalls the forecasts whose
    window it holds; a frame on a 2 s grid with the same values at its times recalls none
    (the memo's forecast of a row was made from the 1 s rows before it)."""
    memo = ForecastMemo(tmp_path)
    columns, window = 2, 3
    memo.keep("a", np.arange(40, dtype=np.int64), np.ones((40, columns), np.float32),
              np.full((40, columns), 7.0, np.float32), rows=40)
    same_grid = memo.recall("a", np.arange(10, 40, dtype=np.int64), np.ones((30, columns), np.float32), window)
    assert np.isnan(same_grid[:window]).all() and (same_grid[window:] == 7.0).all()
    coarser = memo.recall("a", np.arange(0, 40, 2, dtype=np.int64), np.ones((20, columns), np.float32), window)
    assert np.isnan(coarser).all()
