"""Feature values against an independent pandas reference, on known data with gaps,
missing readings and duplicate deliveries; the span planning of the features job."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from features.compute import features_frame
from features.rolling import rolling_stats
from features.transforms import compute_features
from schemas import SENSOR_FEATURES, SENSOR_NAMES
from schemas.features import INTERVAL_STATS, ROLLING_STATS, FeatureSpec, Selection, column
from sensorwatch.pipeline.extract import Span, dirty_spans, landing_hours
from tests.landing_seed import landing_frame

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SPEC = FeatureSpec(interval_s=5, rolling_intervals=4)


def known_events(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two assets, 10 minutes of readings at irregular times; asset b has a 40 s outage,
    readings are missing here and there; plus re-sent corrections of some events."""
    rng = np.random.default_rng(seed)
    frames = []
    for asset, period_ms in (("a", 1000), ("b", 700)):
        t_ms = np.cumsum(rng.integers(period_ms // 2, period_ms * 3 // 2, size=800))
        t_ms = t_ms[t_ms < 600_000]
        if asset == "b":
            t_ms = t_ms[(t_ms < 200_000) | (t_ms >= 240_000)]
        frame = pd.DataFrame({"asset_id": asset, "event_time": pd.to_datetime(T0) + pd.to_timedelta(t_ms, "ms")})
        for i, name in enumerate(SENSOR_NAMES):
            values = 10 * i + np.cumsum(rng.normal(0, 1, len(t_ms)))
            values[rng.random(len(t_ms)) < 0.05] = np.nan  # missing readings
            frame[name] = values
        frame.loc[frame.index[100:130], "pressure"] = np.nan  # a whole stretch of one sensor missing
        frames.append(frame)
    events = pd.concat(frames, ignore_index=True)
    corrections = events.sample(25, random_state=seed).copy()
    corrections["current"] = corrections["current"] + 1000.0  # later deliveries must win
    return events, corrections


def reference(events: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Straightforward pandas, written independently of features/: groupby + per-row loops."""
    ev = events.sort_values("_delivery").drop_duplicates(["asset_id", "event_time"], keep="last")
    ev = ev.sort_values("event_time").assign(interval_start=lambda d: d.event_time.dt.floor(f"{spec.interval_s}s"))
    g = ev.groupby(["asset_id", "interval_start"])
    out = pd.DataFrame({"event_count": g.size()})
    for s in SENSOR_NAMES:
        out[column(s, "mean")] = g[s].mean()
        out[column(s, "min")] = g[s].min()
        out[column(s, "max")] = g[s].max()
        out[column(s, "std")] = g[s].std(ddof=1)
        out[column(s, "count")] = g[s].count()
        out[column(s, "last")] = g[s].last()  # last non-null, in event-time order
    out["missing_sensors"] = sum((out[column(s, "count")] == 0).astype(int) for s in SENSOR_NAMES)
    out = out.reset_index()
    k, step = spec.rolling_intervals, pd.Timedelta(seconds=spec.interval_s)
    rows = []
    for asset, part in out.groupby("asset_id"):
        part = part.set_index("interval_start")
        for t, row in part.iterrows():
            window = part.loc[t - (k - 1) * step:t]
            new = row.to_dict() | {"asset_id": asset, "interval_start": t,
                                   "missing_intervals": k - len(window), "after_gap": (t - step) not in part.index}
            for s in SENSOR_NAMES:
                y = window[column(s, "mean")].dropna()
                x = (y.index - window.index[0]).total_seconds().to_numpy()
                mean_, std_ = (y.mean() if len(y) else np.nan), (y.std(ddof=1) if len(y) > 1 else np.nan)
                new[column(s, "roll_mean")] = mean_
                new[column(s, "roll_std")] = std_
                new[column(s, "zscore")] = (row[column(s, "mean")] - mean_) / std_ if std_ > 0 else np.nan
                new[column(s, "slope")] = np.polyfit(x, y.to_numpy(), 1)[0] if len(y) > 1 else np.nan
            rows.append(new)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def known(spark):
    events, corrections = known_events()
    first = landing_frame(spark, events, T0 + timedelta(hours=1))
    second = landing_frame(spark, corrections, T0 + timedelta(hours=2), first_offset=10_000)
    got = compute_features(first.unionByName(second), SPEC).toPandas()
    expected = reference(pd.concat([events.assign(_delivery=1), corrections.assign(_delivery=2)]), SPEC)
    key = ["asset_id", "interval_start"]
    got["interval_start"] = pd.to_datetime(got["interval_start"], utc=True)
    return got.sort_values(key).reset_index(drop=True), expected.sort_values(key).reset_index(drop=True)


def test_rows_are_the_table_columns_one_per_asset_and_interval_with_events(known):
    got, expected = known
    assert list(got.columns) == SENSOR_FEATURES.column_names
    assert not got.duplicated(["asset_id", "interval_start"]).any()
    assert got[["asset_id", "interval_start"]].equals(expected[["asset_id", "interval_start"]])
    assert (got["day"].dt.tz_localize(None) if got["day"].dt.tz else got["day"]).eq(pd.Timestamp("2026-03-01")).all()


@pytest.mark.parametrize("stat", [st.name for st in (*INTERVAL_STATS, *ROLLING_STATS)])
def test_each_statistic_matches_the_pandas_reference(known, stat):
    got, expected = known
    for s in SENSOR_NAMES:
        a, b = got[column(s, stat)].astype(float), expected[column(s, stat)].astype(float)
        assert (a.isna() == b.isna()).all(), f"{column(s, stat)}: nulls differ"
        np.testing.assert_allclose(a[a.notna()], b[b.notna()], rtol=1e-9, atol=1e-12, err_msg=column(s, stat))


@pytest.mark.parametrize("flag", ["event_count", "missing_sensors", "missing_intervals", "after_gap"])
def test_row_flags_match_the_reference(known, flag):
    got, expected = known
    assert got[flag].tolist() == expected[flag].tolist()


def test_the_data_exercises_gaps_missing_values_and_corrections(known):
    """Guard: the known data really contains what the comparisons above are about."""
    got, _ = known
    b = got[got.asset_id == "b"]
    assert b["after_gap"].sum() >= 1 and b["missing_intervals"].max() == SPEC.rolling_intervals - 1
    assert (got["missing_sensors"] > 0).any() and (got[column("pressure", "count")] == 0).any()
    assert (got[column("current", "max")] > 500).sum() >= 20  # the corrections won
    assert (got["event_count"] > 1).all() and got[column("current", "std")].notna().any()


def test_rolling_stats_of_a_constant_series():
    rows = pd.DataFrame({"_ix": [0, 1, 2, 4], column("pressure", "mean"): [2.0, 2.0, 2.0, 2.0]})
    out = rolling_stats(rows, FeatureSpec(interval_s=1, rolling_intervals=3), ("pressure",))
    assert out[column("pressure", "roll_mean")].tolist() == [2.0] * 4
    assert out[column("pressure", "roll_std")].fillna(-1).tolist() == [-1, 0.0, 0.0, 0.0]  # row 4: ix 2 and 4
    assert out[column("pressure", "zscore")].isna().all()  # std 0 or undefined: no z-score
    assert out["missing_intervals"].tolist() == [2, 1, 0, 1] and out["after_gap"].tolist() == [True, False, False, True]


def test_a_rows_values_do_not_depend_on_the_rows_before_its_window():
    """Exactness across ranges: the same K intervals give bit-identical rolling values."""
    rng = np.random.default_rng(1)
    rows = pd.DataFrame({"_ix": np.arange(1000, 1400), column("current", "mean"): 1e3 + rng.normal(0, 1, 400)})
    spec = FeatureSpec(interval_s=1, rolling_intervals=30)
    full = rolling_stats(rows, spec, ("current",)).set_index("_ix")
    tail = rolling_stats(rows[rows._ix >= 1300], spec, ("current",)).set_index("_ix")
    cols = [column("current", st.name) for st in ROLLING_STATS]
    assert full.loc[1329:, cols].equals(tail.loc[1329:, cols])


def test_feature_spec_rejects_intervals_that_do_not_divide_an_hour():
    with pytest.raises(ValueError, match="divide an hour"):
        FeatureSpec(interval_s=7)
    with pytest.raises(ValueError, match="at least 2"):
        FeatureSpec(rolling_intervals=1)


def test_dirty_spans_cover_each_block_and_its_followers_merging_per_asset():
    spec = FeatureSpec(interval_s=1, rolling_intervals=30)
    h = datetime(2026, 3, 1, 10, tzinfo=UTC)
    spans = dirty_spans([("a", h), ("a", h + timedelta(hours=1)), ("a", h + timedelta(hours=5)),
                         ("b", h), ("a", h)], spec)
    follow = timedelta(seconds=29)
    assert spans == [Span("a", h, h + timedelta(hours=2) + follow),
                     Span("a", h + timedelta(hours=5), h + timedelta(hours=6) + follow),
                     Span("b", h, h + timedelta(hours=1) + follow)]
    # the input of the first span starts 29 s before it: the previous hour's partition is read
    assert landing_hours(spans[:1], spec) == ["2026-03-01T09", "2026-03-01T10", "2026-03-01T11", "2026-03-01T12"]


@pytest.mark.parametrize("columns", [
    [column(s, "mean") for s in SENSOR_NAMES],  # what the model reads: no lookback
    [column("current", "slope"), column("pressure", "max"), "missing_sensors", "after_gap", "event_count"],
])
def test_a_selection_computes_only_its_columns_with_the_whole_rows_values(columns):
    """Prediction computes only the model's inputs: the same values, bit for bit, from
    only the events the selection's lookback reaches back to."""
    events, _ = known_events()
    events["event_time"] = events["event_time"].dt.tz_localize(None)
    selection = Selection.of(columns, SENSOR_NAMES)
    start = pd.Timestamp(T0).tz_localize(None) + pd.Timedelta(minutes=5)
    lookback = pd.Timedelta(seconds=SPEC.lookback_for(selection))
    assert (lookback == pd.Timedelta(0)) == (columns[0] == column(SENSOR_NAMES[0], "mean"))
    full = features_frame(events, SPEC)
    part = features_frame(events[events.event_time >= start - lookback], SPEC, selection)
    assert list(part.columns) == ["asset_id", "interval_start", *columns]
    full, part = (f[f.interval_start >= start].reset_index(drop=True) for f in (full, part))
    assert len(part) > 100
    for c in ["asset_id", "interval_start", *columns]:
        a, b = full[c].to_numpy(), part[c].to_numpy()
        same = a.view(np.int64) == b.view(np.int64) if a.dtype == np.float64 else a == b
        assert same.all(), c


def test_a_selection_names_what_is_not_a_feature():
    with pytest.raises(ValueError, match="not feature columns: current__median"):
        Selection.of([column("current", "mean"), column("current", "median")], SENSOR_NAMES)
