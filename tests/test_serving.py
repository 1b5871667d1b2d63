"""Scoring for prediction, without services: the interval grid makes a row's score depend
only on a fixed time span (so any range gives the same scores), batches split inside an
asset score like one frame, causal confirmation, events, and drift (PSI)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models import drift, threshold
from models.detector import Detector
from models.event_merging import merge_events
from models.serving import SCORE_COLUMNS, Grid, score_frame, score_stream
from tests.test_model import SPEC, sine_rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.fit({"a1": sine_rows(300, 1), "a2": sine_rows(300, 2)}, SPEC)


def two_assets(n: int = 400) -> pd.DataFrame:
    rows = pd.concat([sine_rows(n, 1, spike_at=250), sine_rows(n, 2)], ignore_index=True)
    return rows.drop(index=rows.index[(rows.asset_id == "a2") & rows.index.isin(range(n + 200, n + 215))])  # a gap


def grid(start_s: int, end_s: int) -> Grid:
    return Grid.for_range(T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s), 1, SPEC.lookback_rows)


def test_any_range_gives_the_same_scores_to_the_same_intervals(detector):
    rows = two_assets()
    whole = score_frame(detector, rows, grid(100, 400)).set_index(["asset_id", "interval_start"])
    for start, end in ((150, 330), (190, 220), (330, 400)):
        part = score_frame(detector, rows, grid(start, end)).set_index(["asset_id", "interval_start"])
        assert len(part) and part.index.isin(whole.index).all()
        expected = whole.loc[part.index]
        np.testing.assert_array_equal(part["score"].to_numpy(), expected["score"].to_numpy())
        assert part["is_anomaly"].tolist() == expected["is_anomaly"].tolist()
        assert part["top_sensors"].tolist() == expected["top_sensors"].tolist()
    # only present intervals are scored: the 15 s gap of a2 has no rows
    assert len(whole.loc["a2"]) == 300 - 15 and len(whole.loc["a1"]) == 300
    # the spike of a1 (rows 250-269) is confirmed, with pressure named first and shares in (0, 1]
    spike = whole.loc["a1"].loc[pd.Timestamp("2026-01-01 00:04:10"):pd.Timestamp("2026-01-01 00:04:30")]
    assert spike["is_anomaly"].any() and spike.loc[spike.is_anomaly, "top_sensors"].map(lambda s: s[0]).eq("pressure").all()
    shares = spike["top_contributions"].iloc[-1]
    assert len(shares) == SPEC.top_sensors and shares == sorted(shares, reverse=True) and 0 < shares[0] <= 1


def test_batches_split_inside_an_asset_score_like_one_frame(detector):
    rows = two_assets().sort_values(["asset_id", "interval_start"], ignore_index=True)
    g = grid(100, 400)
    batches = [rows.iloc[i:i + 170] for i in range(0, len(rows), 170)]  # boundaries inside both assets
    streamed = pd.concat(score_stream(iter(batches), detector, g), ignore_index=True)
    direct = score_frame(detector, rows, g)
    assert list(streamed.columns) == list(SCORE_COLUMNS)
    pd.testing.assert_frame_equal(streamed, direct)


def test_confirmation_is_causal_and_hindsight_covers_the_onset():
    above = np.array([0, 1, 1, 0, 1, 1, 1, 1, 0, 1], dtype=bool)
    assert threshold.confirmed(above, 3).astype(int).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0, 0]
    scores = np.where(above, 5.0, 1.0)
    assert threshold.flag(scores, 4.0, 3).astype(int).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    # causal: the flags of a prefix never change when rows are appended
    assert threshold.confirmed(above[:7], 3).tolist() == threshold.confirmed(above, 3)[:7].tolist()


def score_rows(asset: str, seconds: list[int], confirmed: set[int], tops=("pressure", "current"),
               after_exceeding: bool = False) -> pd.DataFrame:
    """Exceeding score rows; the first one follows an exceeding row if ``after_exceeding``."""
    return pd.DataFrame({
        "asset_id": asset, "interval_start": [pd.Timestamp(T0) + pd.Timedelta(seconds=s) for s in seconds],
        "score": [float(3 + (s % 7)) for s in seconds], "threshold": 2.0, "exceeds": True,
        "is_anomaly": [s in confirmed for s in seconds], "top_sensors": [list(tops)] * len(seconds),
        "top_contributions": [[0.7, 0.3]] * len(seconds), "model_name": "m", "model_version": 3, "run_id": "r1",
        "after_exceeding": [after_exceeding] + [True] * (len(seconds) - 1)})


def test_events_are_consecutive_exceedances_that_were_confirmed():
    scores = pd.concat([
        score_rows("p1", [10, 11, 12, 13], confirmed={12, 13}),  # an event, onset 10
        score_rows("p1", [20, 21], confirmed=set()),  # never confirmed: no event
        score_rows("p1", [30, 31, 32], confirmed={32}, tops=("current", "voltage")),  # newest interval: open
        score_rows("p2", [5, 6], confirmed={6}),  # a scored interval below the threshold (7) ...
        score_rows("p2", [8, 9], confirmed={9}),  # ... splits it in two
        score_rows("p3", [5, 6], confirmed={6}),  # an interval without data (7, no score row) ...
        score_rows("p3", [8, 9], confirmed=set(), after_exceeding=True),  # ... does not
    ], ignore_index=True).sample(frac=1, random_state=1)  # any order
    newest = {a: pd.Timestamp(T0) + pd.Timedelta(seconds=s) for a, s in (("p1", 32), ("p2", 40), ("p3", 40))}
    events = merge_events(scores, 1, newest).set_index(["asset_id", "event_start"])
    at = lambda s: pd.Timestamp(T0) + pd.Timedelta(seconds=s)
    assert list(events.index) == [("p1", at(10)), ("p1", at(30)), ("p2", at(5)), ("p2", at(8)), ("p3", at(5))]
    gapped = events.loc[("p3", at(5))]
    assert gapped.event_end == at(10) and gapped.intervals == 4 and gapped.duration_s == 5.0
    first = events.loc[("p1", at(10))]
    assert first.event_end == at(14) and first.confirmed_at == at(12) and first.intervals == 4
    assert first.duration_s == 4.0 and not first.is_open and first.peak_score == 9.0 and first.peak_at == at(13)
    assert first.sensors == ["pressure", "current"] and first.sensor_shares == [0.7, 0.3]
    assert events.loc[("p1", at(30))].is_open and events.loc[("p1", at(30))].sensors[0] == "current"
    assert merge_events(scores.iloc[0:0], 1, {}).empty


def test_psi_is_small_for_the_training_distribution_and_large_after_a_shift():
    rng = np.random.default_rng(0)
    ref = drift.reference(rng.normal(0, 1, 5000))
    assert len(ref["edges"]) == 9 and abs(sum(ref["shares"]) - 1) < 1e-9
    assert drift.psi(ref, rng.normal(0, 1, 2000)) < 0.05
    assert drift.psi(ref, rng.normal(1.5, 1, 2000)) > 0.25
    assert drift.psi(ref, np.array([np.nan])) is None
    values = rng.normal(0.5, 1, 300)
    counts = np.bincount(np.searchsorted(ref["edges"], values, side="right"), minlength=10)
    assert drift.psi_of_counts(ref, counts) == pytest.approx(drift.psi(ref, values))
