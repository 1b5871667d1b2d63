"""Thresholds from operators' labels: replay an asset's stored scores under another
threshold, and choose the lowest one that keeps false alarms within a budget (pandas).

An event under threshold ``t`` is a run of consecutive stored score rows above ``t`` that
lasts ``min_duration`` rows (how ``models.event_merging`` merges them: rows exist for scored
intervals only, so an interval without data does not end a run). A labelled event is
still alerted under ``t`` when such a run overlaps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import threshold


def events_under(scores: pd.DataFrame, t: float, min_duration: int, interval_s: int) -> list[tuple]:
    """One asset's stored score rows (``interval_start``, ``score``; sorted) -> the
    [start, end) of each event they make under threshold ``t``."""
    flags = threshold.exceeds(scores["score"].to_numpy(np.float64), t)
    starts = pd.to_datetime(scores["interval_start"], utc=True).reset_index(drop=True)
    step = pd.Timedelta(seconds=interval_s)
    return [(starts[a], starts[b - 1] + step) for a, b in threshold.runs(flags) if b - a >= min_duration]


@dataclass(frozen=True)
class Outcome:
    """What the labelled history of one asset says under a threshold."""

    threshold: float
    confirmed: int  # labelled confirmed events still alerted
    false_alarms: int  # labelled false alarms still alerted

    @property
    def false_share(self) -> float:
        alerted = self.confirmed + self.false_alarms
        return self.false_alarms / alerted if alerted else 0.0


def outcome(scores: pd.DataFrame, labelled: pd.DataFrame, t: float, min_duration: int, interval_s: int) -> Outcome:
    """``labelled``: the asset's events with their newest label (``event_start``,
    ``event_end``, ``label``) -> how many confirmed events and false alarms ``t`` alerts."""
    runs = events_under(scores, t, min_duration, interval_s)
    kept = [any(s < end and e > start for s, e in runs) for start, end in
            zip(pd.to_datetime(labelled["event_start"], utc=True), pd.to_datetime(labelled["event_end"], utc=True))]
    labels, alerted = labelled["label"].to_numpy(), np.asarray(kept, dtype=bool)
    return Outcome(t, int(np.sum(alerted & (labels == "confirmed"))), int(np.sum(alerted & (labels == "false_alarm"))))


def propose(scores: pd.DataFrame, labelled: pd.DataFrame, current: float, budget: float, min_duration: int,
            interval_s: int) -> tuple[Outcome, Outcome]:
    """(the labelled history under ``current``, under the proposal): the lowest threshold
    not below ``current`` whose false alarms are at most ``budget`` of what it alerts,
    without losing a confirmed event. The candidates are the scores inside the labelled
    false alarms (at each, one of their rows stops exceeding); where none meets the
    budget without losing a confirmed event, the current threshold stays."""
    before = outcome(scores, labelled, current, min_duration, interval_s)
    if before.false_share <= budget:
        return before, before
    times = pd.to_datetime(scores["interval_start"], utc=True)
    inside = np.zeros(len(scores), dtype=bool)
    for start, end in labelled.loc[labelled["label"] == "false_alarm", ["event_start", "event_end"]].itertuples(
            index=False):
        inside |= ((times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))).to_numpy()
    values = np.unique(scores["score"].to_numpy(np.float64)[inside])
    for t in values[np.isfinite(values) & (values >= current)]:
        after = outcome(scores, labelled, float(t), min_duration, interval_s)
        if after.confirmed < before.confirmed:
            break  # higher thresholds only lose more
        if after.false_share <= budget:
            return before, after
    return before, before
