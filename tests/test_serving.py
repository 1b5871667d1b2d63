"""Scoring for prediction, without services: the interval grid makes a row's score depend
only on a fixed time span (so any range gives the same scores), batches split inside an
asset score like one frame, causal confirmation, events, and drift (PSI)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models import drift, threshold
from models.detector import Detector
from models.event_merging import classify, merge_conditions, merge_events
from models.instrument import InstrumentSpec
from models.serving import SCORE_COLUMNS, Grid, score_frame, score_stream
from schemas import SENSOR_NAMES
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


def test_rows_in_any_order_or_twice_for_an_interval_score_as_the_rows_once_in_order(detector):
    """A batch's rows are placed on the grid all at once: shuffled, an interval's row
    repeated with other values after it (the first row of an interval is the one scored) and
    rows outside the grid give the same scores as the clean rows."""
    rows = two_assets()
    clean = score_frame(detector, rows, grid(190, 400))
    twice = rows.sample(40, random_state=3).assign(pressure__mean=1e6)  # later copies: ignored
    messy = pd.concat([rows.sample(frac=1, random_state=1), twice], ignore_index=True)
    messy = pd.concat([messy, messy.head(5).assign(interval_start=lambda r: r.interval_start + pd.Timedelta(days=9))])
    pd.testing.assert_frame_equal(score_frame(detector, messy, grid(190, 400)), clean, check_exact=True)
    wrong_first = pd.concat([twice, rows], ignore_index=True)  # the copies first: they are the rows scored
    assert not score_frame(detector, wrong_first, grid(190, 400))["score"].equals(clean["score"])


def test_an_instrument_condition_is_the_same_from_any_range_and_reaches_back_to_where_it_began(detector):
    """a1's pressure sticks at row 320: every range that scores a row flags it alike, with
    ``since`` at the stuck row or, when that is further back, the detector's lookback."""
    detector = Detector.fit({"a1": sine_rows(300, 1), "a2": sine_rows(300, 2)}, SPEC,
                            checks=InstrumentSpec(min_training_rows=250))  # the sines' 300 rows are enough here
    rows = pd.concat([sine_rows(700, 1), sine_rows(700, 2)], ignore_index=True)
    stuck = (rows.asset_id == "a1") & rows.index.isin(range(320, 700))
    rows.loc[stuck, "pressure__mean"] = rows.loc[rows.index[320], "pressure__mean"]
    g = lambda a, b: Grid.for_range(T0 + timedelta(seconds=a), T0 + timedelta(seconds=b), 1, detector.lookback_rows)
    cols = ["instrument_check", "instrument_sensor", "instrument_since"]
    whole = score_frame(detector, rows, g(250, 700)).set_index(["asset_id", "interval_start"])
    a1 = whole.loc["a1"]
    flagged = a1[a1.instrument_check.notna()]
    flagged = flagged[flagged.instrument_check == "frozen"]
    assert set(flagged.instrument_sensor) == {"pressure"}
    assert flagged.index[0] < pd.Timestamp("2026-01-01 00:06:40")  # found within 80 s of sticking at 320 s
    assert flagged.instrument_since.iloc[0] == pd.Timestamp("2026-01-01 00:05:20")
    lag = (flagged.index.to_series() - flagged.instrument_since).dt.total_seconds()
    assert lag.max() == detector.lookback_rows  # never further back than any run reads
    assert "frozen" not in set(whole.loc["a2"].instrument_check)  # the same signals, live: not frozen
    for start, end in ((400, 460), (600, 700)):
        part = score_frame(detector, rows, g(start, end)).set_index(["asset_id", "interval_start"])
        pd.testing.assert_frame_equal(part[cols], whole.loc[part.index, cols])


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


def condition_rows(asset: str, seconds: list[int], since: int, check: str = "frozen",
                   sensor: str = "pressure") -> pd.DataFrame:
    at = lambda s: pd.Timestamp(T0) + pd.Timedelta(seconds=s)
    return pd.DataFrame({"asset_id": asset, "interval_start": [at(s) for s in seconds], "score": 1.0,
                         "threshold": 2.0, "instrument_check": check, "instrument_sensor": sensor,
                         "instrument_since": at(since), "model_name": "m", "model_version": 3, "run_id": "r1"})


def test_instrument_conditions_become_events_and_a_model_event_carried_by_that_sensor_takes_their_kind():
    at = lambda s: pd.Timestamp(T0) + pd.Timedelta(seconds=s)
    conditions = merge_conditions(pd.concat([
        condition_rows("p1", list(range(40, 60)), since=10),  # frozen from 10, found at 40
        condition_rows("p1", [70], since=66, check="spike"), condition_rows("p1", [90], since=88, check="spike"),
        condition_rows("p2", list(range(30, 50)), since=5, sensor="current"),
    ], ignore_index=True).sample(frac=1, random_state=2), 1, {"p1": at(59), "p2": at(80)})
    by_start = conditions.set_index(["asset_id", "event_start"])
    assert list(by_start.index) == [("p1", at(10)), ("p1", at(66)), ("p1", at(88)), ("p2", at(5))]
    frozen = by_start.loc[("p1", at(10))]
    assert (frozen.kind, frozen.instrument_check, frozen.sensors, frozen.confirmed_at) == \
        ("instrument", "frozen", ["pressure"], at(40))
    assert frozen.event_end == at(60) and frozen.intervals == 50 and frozen.is_open
    assert not by_start.loc[("p2", at(5))].is_open
    # the model's events: p1's carried by pressure overlaps the frozen one; p2's is shared by two sensors;
    # p3's is carried by one sensor that no check names: the model's deviation
    process = merge_events(pd.concat([score_rows("p1", [20, 21, 22], {22}, tops=("pressure", "current")),
                                      score_rows("p2", [35, 36, 37], {37}),
                                      score_rows("p3", [40, 41, 42], {42}, tops=("voltage", "current"))],
                                     ignore_index=True)
                           .assign(top_contributions=[[0.9, 0.1]] * 3 + [[0.5, 0.5]] * 3 + [[0.95, 0.05]] * 3), 1,
                           {"p1": at(59), "p2": at(80), "p3": at(80)})
    events = classify(process, conditions).set_index(["asset_id", "event_start"])
    assert list(events.index) == [("p1", at(20)), ("p2", at(35)), ("p3", at(40)), ("p1", at(66)), ("p1", at(88)),
                                  ("p2", at(5))]
    assert tuple(events.loc[("p1", at(20)), ["kind", "instrument_check"]]) == ("instrument", "frozen")
    assert tuple(events.loc[("p2", at(35)), ["kind", "instrument_check"]]) == ("process", None)
    assert tuple(events.loc[("p3", at(40)), ["kind", "instrument_check"]]) == ("instrument", "deviation")
    alone = classify(process, conditions.iloc[0:0])
    assert alone.kind.tolist() == ["instrument", "process", "instrument"]


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


def test_the_kind_card_counts_found_right_kind_and_false_events():
    from models.metrics import kind_card

    at = lambda s: pd.Timestamp(T0) + pd.Timedelta(seconds=s)
    truths = [{"asset_id": "p1", "kind": "stuck", "start": at(100), "end": at(200)},
              {"asset_id": "p1", "kind": "correlated", "start": at(1000), "end": at(1100)},
              {"asset_id": "p2", "kind": "drift", "start": at(500), "end": at(700)},
              {"asset_id": "p2", "kind": "spike", "start": at(9000), "end": at(9002)}]  # not scored: not counted
    events = [{"asset_id": "p1", "event_start": at(150), "event_end": at(260), "kind": "instrument"},
              {"asset_id": "p1", "event_start": at(1290), "event_end": at(1300), "kind": None},  # grace: 120 s
              {"asset_id": "p2", "event_start": at(650), "event_end": at(900), "kind": "process"},  # wrong kind
              {"asset_id": "p2", "event_start": at(3000), "event_end": at(3100), "kind": "process"},  # false
              {"asset_id": "skab", "event_start": at(3000), "event_end": at(3100), "kind": "process"}]  # not judged
    card = kind_card(truths, events, {"p1": (at(0), at(43200)), "p2": (at(0), at(8000))})
    assert card.per_kind["stuck"] == {"injected": 1, "found": 1, "right_kind": 1}
    assert card.per_kind["correlated"] == {"injected": 1, "found": 0, "right_kind": 0}  # 1290 > 1100 + 120
    assert card.per_kind["drift"] == {"injected": 1, "found": 1, "right_kind": 0}
    assert card.per_kind["spike"]["injected"] == 0
    assert card.totals() == {"injected": 3, "found": 2, "right_kind": 1, "false_events": 2, "false_per_day": round(2 / ((43200 + 8000) / 86400), 2)}


def test_short_forecasts_are_the_same_from_any_range_and_cover_every_sensor_and_step():
    """A live cycle issues one forecast per sensor and step at its end; a backfill one per
    cycle it covers, equal to the live ones; intervals are ordered around the forecast."""
    from models.forecasting import ShortSpec
    from models.serving import FORECAST_COLUMNS, forecast_frame

    small = ShortSpec(history=60, step=5, steps=3, origin_every=10)
    fitted = Detector.fit({"a1": sine_rows(300, 1), "a2": sine_rows(300, 2)}, SPEC, small)
    rows = pd.concat([sine_rows(700, 1), sine_rows(700, 2)], ignore_index=True)
    g = lambda a, b: Grid.for_range(T0 + timedelta(seconds=a), T0 + timedelta(seconds=b), 1, fitted.lookback_rows)
    backfill = forecast_frame(fitted, rows, g(300, 600), every_s=60)
    assert list(backfill.columns) == list(FORECAST_COLUMNS)
    ahead = backfill[backfill.steps_ahead > 0]
    assert sorted(ahead.issued_at.unique()) == [pd.Timestamp(T0.replace(tzinfo=None)) + pd.Timedelta(seconds=s)
                                                   for s in (360, 420, 480, 540, 600)]
    assert len(ahead) == 2 * 5 * 3 * 8  # assets x issues x steps x sensors
    assert (ahead.lo95 <= ahead.lo80).all() and (ahead.lo80 <= ahead.hi80).all()
    assert (ahead.hi80 <= ahead.hi95).all() and set(backfill.step_s) == {5} and ahead.actual.isna().all()
    # the actuals: each 5 s period of the cycle before each issue, its mean (what the forecasts are compared with)
    actual = backfill[backfill.steps_ahead == 0].set_index(["asset_id", "sensor", "target_start"])
    assert len(actual) == 2 * 5 * 12 * 8 and actual.forecast.isna().all()  # assets x issues x periods x sensors
    a1 = rows[rows.asset_id == "a1"].set_index("interval_start")["pressure__mean"]
    first = pd.Timestamp("2026-01-01 00:05:00")
    assert actual.loc[("a1", "pressure", first), "actual"] == pytest.approx(a1[first:first + pd.Timedelta(seconds=4)].mean())
    live = forecast_frame(fitted, rows, g(420, 480), every_s=60)
    assert set(live[live.steps_ahead > 0].issued_at) == {pd.Timestamp(T0.replace(tzinfo=None)) + pd.Timedelta(seconds=480)}
    key = ["asset_id", "sensor", "issued_at", "target_start", "steps_ahead"]
    pd.testing.assert_frame_equal(live.set_index(key), backfill.set_index(key).loc[live.set_index(key).index])
    # an asset the model has not seen: the fleet's median profiles
    unseen = forecast_frame(fitted, rows.assign(asset_id="a9"), g(420, 480), every_s=60)
    assert len(unseen[unseen.steps_ahead > 0]) == 3 * 8
    alphas = sorted(fitted.calibration(a).forecasters()[0].alpha for a in ("a1", "a2"))
    assert alphas[0] <= fitted.calibration("a9").forecasters()[0].alpha <= alphas[1]
    # a forecast knows only the rows before its issue time: changing what follows changes nothing
    later = rows.copy()
    later.loc[later.interval_start >= pd.Timestamp("2026-01-01 00:08:00"), "pressure__mean"] += 50
    pd.testing.assert_frame_equal(forecast_frame(fitted, later, g(420, 480), every_s=60), live)


def test_short_forecasts_use_the_stored_recalibration_of_their_issue_time():
    """A recalibration computed an hour before an issue widens that issue's intervals by its
    factors (each row says which); a live cycle and a backfill give the same rows; the
    issues before it keep the intervals as trained."""
    from models.forecasting import Recalibration, ShortSpec
    from models.serving import forecast_frame

    small = ShortSpec(history=60, step=5, steps=3, origin_every=10)
    fitted = Detector.fit({"a1": sine_rows(300, 1), "a2": sine_rows(300, 2)}, SPEC, small)
    rows = pd.concat([sine_rows(700, 1), sine_rows(700, 2)], ignore_index=True)
    g = lambda a, b: Grid.for_range(T0 + timedelta(seconds=a), T0 + timedelta(seconds=b), 1, fitted.lookback_rows)
    computed = pd.Timestamp(T0.replace(tzinfo=None)) + pd.Timedelta(seconds=450) - pd.Timedelta(hours=1)
    recal = Recalibration.of_rows(pd.DataFrame([{"asset_id": "a1", "sensor": "pressure", "calibrated_at": computed,
                                                 "scale80": 2.0, "scale95": 3.0}]), SENSOR_NAMES)
    plain = forecast_frame(fitted, rows, g(300, 600), every_s=60)
    backfill = forecast_frame(fitted, rows, g(300, 600), every_s=60, recalibration=recal)
    key = ["asset_id", "sensor", "issued_at", "target_start", "steps_ahead"]
    a, b = plain.set_index(key), backfill.set_index(key)
    ahead = b.index.get_level_values("steps_ahead") > 0
    widened = ahead & (b.index.get_level_values("asset_id") == "a1") & (b.index.get_level_values("sensor") == "pressure") \
        & (b.index.get_level_values("issued_at") >= computed + pd.Timedelta(hours=1))
    assert widened.sum() == 3 * 3  # issues 480, 540, 600 x steps
    assert np.allclose((b.hi80 - b.forecast)[widened], 2.0 * (a.hi80 - a.forecast)[widened])
    assert np.allclose((b.forecast - b.lo95)[widened], 3.0 * (a.forecast - a.lo95)[widened])
    assert (b.scale80[widened] == 2.0).all() and (b.scale95[ahead & ~widened] == 1.0).all()
    pd.testing.assert_frame_equal(b[~widened], a[~widened])
    live = forecast_frame(fitted, rows, g(480, 540), every_s=60, recalibration=recal).set_index(key)
    pd.testing.assert_frame_equal(live, b.loc[live.index])


def test_one_pass_makes_the_scores_and_forecasts_of_the_separate_frames():
    """The prediction job's one pass (``scored_and_forecast``) holds exactly the score rows of
    ``score_frame`` and the forecast rows of ``forecast_frame``, in a frame Arrow takes with
    the Spark schema the job declares."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    from models.forecasting import ShortSpec
    from models.serving import BOTH_COLUMNS, FORECAST_COLUMNS, OUTPUT, both_schema, forecast_frame, scored_and_forecast

    fitted = Detector.fit({"a1": sine_rows(300, 1), "a2": sine_rows(300, 2)}, SPEC,
                          ShortSpec(history=60, step=5, steps=3, origin_every=10))
    rows = two_assets(700)
    g = Grid.for_range(T0 + timedelta(seconds=420), T0 + timedelta(seconds=600), 1, fitted.lookback_rows)
    made = scored_and_forecast(fitted, rows, g, every_s=60, limits={"*": {"pressure": (None, 12.0)}})
    assert [list(f.columns) for f in made] == [list(BOTH_COLUMNS)] * 2
    assert [set(f[OUTPUT]) for f in made] == [{"score"}, {"forecast"}]
    scores, forecasts = made[0][list(SCORE_COLUMNS)], made[1][list(FORECAST_COLUMNS)]
    pd.testing.assert_frame_equal(scores, score_frame(fitted, rows, g))
    pd.testing.assert_frame_equal(forecasts, forecast_frame(fitted, rows, g, 60, {"*": {"pressure": (None, 12.0)}}))
    assert len(scores) == 2 * 180 and len(forecasts) > 0
    for frame in made:  # what mapInPandas does with each yielded frame
        table = pa.Table.from_pandas(frame, schema=to_arrow_schema(both_schema(), timezone="UTC"), preserve_index=False)
        assert table.num_rows == len(frame)
    assert table.column("score").null_count == len(forecasts)


def test_the_chance_of_passing_a_limit_follows_the_intervals():
    from models.serving import with_limits

    f = pd.DataFrame({"asset_id": ["p1", "p1", "p2", "p3"], "sensor": ["pressure", "pressure", "pressure", "current"],
                      "forecast": [1.0, 1.0, 1.0, 5.0], "lo95": [0.5, 0.5, 0.5, 4.0], "hi95": [1.5, 1.5, 1.5, 6.0]})
    out = with_limits(f, {"*": {"pressure": (None, 1.5)}, "p2": {"pressure": (None, 1.0)}})
    p = out["p_beyond_limit"].tolist()
    assert p[0] == pytest.approx(0.025, abs=1e-3) and p[1] == p[0]  # the 95 % interval's edge: 2.5 % above
    assert p[2] == pytest.approx(0.5)  # p2's own limit at the forecast itself
    assert np.isnan(p[3]) and np.isnan(out["limit_high"].iloc[3])  # current has no limit
    assert out["limit_high"].tolist()[:3] == [1.5, 1.5, 1.0] and out["limit_low"].isna().all()
