"""Recalibrating thresholds from labels: replaying stored scores under another threshold
and the choice within a false-alarm budget (pure; the end-to-end path, from labels to a
prediction run that uses the applied version, is in test_predict_job)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from models.recalibrate import events_under, outcome, propose

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def scores_with(bumps: list[tuple[int, int, float]], n: int = 400) -> pd.DataFrame:
    """Score 0.5 everywhere, ``value`` over rows [start, end) of each bump."""
    score = np.full(n, 0.5)
    for start, end, value in bumps:
        score[start:end] = value
    return pd.DataFrame({"interval_start": [T0 + timedelta(seconds=i) for i in range(n)], "score": score})


def labelled(*events: tuple[int, int, str]) -> pd.DataFrame:
    return pd.DataFrame([{"event_start": T0 + timedelta(seconds=a), "event_end": T0 + timedelta(seconds=b),
                          "label": label} for a, b, label in events])


def test_replayed_events_are_the_runs_that_last_min_duration():
    scores = scores_with([(10, 50, 3.0), (100, 110, 3.0), (200, 240, 1.5)])
    assert events_under(scores, 1.0, 30, 1) == [(pd.Timestamp(T0 + timedelta(seconds=10)),
                                                 pd.Timestamp(T0 + timedelta(seconds=50))),
                                                (pd.Timestamp(T0 + timedelta(seconds=200)),
                                                 pd.Timestamp(T0 + timedelta(seconds=240)))]
    assert len(events_under(scores, 2.0, 30, 1)) == 1  # 1.5 no longer exceeds


def test_the_proposal_drops_false_alarms_within_the_budget_and_keeps_confirmed_events():
    scores = scores_with([(10, 50, 5.0), (100, 140, 2.0), (200, 240, 2.5)])
    history = labelled((10, 50, "confirmed"), (100, 140, "false_alarm"), (200, 240, "false_alarm"))
    before, after = propose(scores, history, 1.0, 0.0, 30, 1)
    assert (before.confirmed, before.false_alarms) == (1, 2)
    assert after.threshold == 2.5 and (after.confirmed, after.false_alarms) == (1, 0)
    # a budget of half the alerts allows one false alarm: the lower threshold suffices
    _, half = propose(scores, history, 1.0, 0.5, 30, 1)
    assert half.threshold == 2.0 and (half.confirmed, half.false_alarms) == (1, 1)


def test_no_proposal_loses_a_confirmed_event():
    scores = scores_with([(10, 50, 2.0), (100, 140, 3.0)])  # the false alarm peaks above the real one
    history = labelled((10, 50, "confirmed"), (100, 140, "false_alarm"))
    before, after = propose(scores, history, 1.0, 0.0, 30, 1)
    assert after == before and after.threshold == 1.0
    assert outcome(scores, history, 3.0, 30, 1).confirmed == 0  # what the guard prevented
