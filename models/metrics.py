"""Binary detection metrics as the SKAB outlier protocol defines them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.threshold import runs


@dataclass(frozen=True)
class Scores:
    f1: float
    far: float  # false alarm rate, % of normal rows flagged
    mar: float  # missed alarm rate, % of anomalous rows not flagged
    rows: int

    def as_dict(self) -> dict[str, float]:
        return {"f1": round(self.f1, 4), "far": round(self.far, 2), "mar": round(self.mar, 2)}


def binary_scores(truth: np.ndarray, predicted: np.ndarray) -> Scores:
    """F1 = 2TP / (2TP + FP + FN), FAR = FP / (FP + TN), MAR = FN / (FN + TP)."""
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    if truth.shape != predicted.shape:
        raise ValueError(f"labels and predictions differ in shape: {truth.shape} vs {predicted.shape}")
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    fn = int(np.sum(truth & ~predicted))
    tn = int(np.sum(~truth & ~predicted))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    far = 100.0 * fp / (fp + tn) if fp + tn else 0.0
    mar = 100.0 * fn / (fn + tp) if fn + tp else 0.0
    return Scores(f1, far, mar, len(truth))


@dataclass(frozen=True)
class EventScores:
    """Event level: an event (a run of anomalous rows) is detected when any flagged row
    overlaps it; each flagged run that overlaps no event is one false event."""

    events: int
    detected: int
    false_events: int

    @property
    def recall(self) -> float:
        return self.detected / self.events if self.events else 1.0

    @property
    def precision(self) -> float:
        return self.detected / (self.detected + self.false_events) if self.detected + self.false_events else 1.0

    def as_dict(self) -> dict[str, float]:
        return {"event_precision": round(self.precision, 4), "event_recall": round(self.recall, 4),
                "events": self.events, "detected": self.detected, "false_events": self.false_events}


def event_scores(truths: list[np.ndarray], predictions: list[np.ndarray]) -> EventScores:
    """Over several series (files), each a pair of boolean arrays of the same length."""
    events = detected = false_events = 0
    for truth, predicted in zip(truths, predictions):
        truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
        truth_runs = runs(truth)
        events += len(truth_runs)
        detected += sum(bool(predicted[a:b].any()) for a, b in truth_runs)
        false_events += sum(not truth[a:b].any() for a, b in runs(predicted))
    return EventScores(events, detected, false_events)


# NAB application profiles as SKAB's evaluator (the TSAD framework) defines them: A_tp, A_fp, A_fn.
NAB_PROFILES: dict[str, tuple[float, float, float]] = {
    "standard": (1.0, -0.11, -1.0), "low_fp": (1.0, -0.22, -1.0), "low_fn": (1.0, -0.11, -2.0)}
_NAB_STEPS = 1000


def _nab_reward(position: float, a_tp: float, a_fp: float) -> float:
    """The scaled tanh reward of a detection at ``position`` (0: the changepoint, 1: the
    window's right edge), from A_tp down to A_fp, on the evaluator's 1000-step grid."""
    x = np.linspace(-np.pi / 2, np.pi / 2, _NAB_STEPS)
    y = (a_tp - a_fp) / 2 * -np.tanh(x) / np.tanh(np.pi / 2) + (a_tp - a_fp) / 2 + a_fp
    return float(y[min(int(position * _NAB_STEPS), _NAB_STEPS - 1)])


def nab_scores(times: list[np.ndarray], changepoints: list[np.ndarray], predictions: list[np.ndarray],
               window_s: float = 60.0) -> dict[str, float]:
    """The NAB score of SKAB's changepoint leaderboard, per profile (100 = every
    changepoint detected at once, no false positive; 0 = nothing detected).

    Per series (``times`` in seconds, ascending; ``changepoints`` and ``predictions``
    booleans): the predicted changepoints are where the flags switch (and the first row
    if flagged); each true changepoint opens a detection window ``window_s`` to its right
    (a window that overlaps the previous one starts where that one ends). The first
    predicted changepoint inside a window scores by its delay, later ones in it count for
    nothing, and every predicted changepoint outside all windows is a false positive."""
    totals = {p: np.zeros(3) for p in NAB_PROFILES}  # score, null, perfect
    for t, cps, flags in zip(times, changepoints, predictions):
        t = np.asarray(t, dtype=np.float64)
        flags = np.asarray(flags, dtype=np.int8)
        switch = np.abs(np.diff(flags, prepend=0)) > 0
        predicted = t[switch]
        windows = [[float(c), float(c) + window_s] for c in t[np.asarray(cps, bool)]]
        for i in range(1, len(windows)):
            if windows[i - 1][1] >= windows[i][0]:
                windows[i][0] = windows[i - 1][1]
        outside = np.ones(len(predicted), dtype=bool)
        rewards, missed = [], 0
        for lo, hi in windows:
            inside = (predicted >= lo) & (predicted <= hi)
            outside &= ~inside
            if inside.any():
                rewards.append((predicted[inside][0] - lo) / (hi - lo) if hi > lo else 0.0)
            else:
                missed += 1
        false_positives = int(outside.sum())
        for profile, (a_tp, a_fp, a_fn) in NAB_PROFILES.items():
            score = a_fp * false_positives + a_fn * missed + sum(_nab_reward(r, a_tp, a_fp) for r in rewards)
            totals[profile] += [score, len(windows) * a_fn, len(windows) * a_tp]
    return {p: float(round(100 * (s - null) / (perfect - null), 2)) if perfect != null else 0.0
            for p, (s, null, perfect) in totals.items()}


# The simulator's injected anomalies and the kind of event each should become.
TRUE_KIND = {"stuck": "instrument", "spike": "instrument", "drift": "instrument", "correlated": "process"}
GRACE_S = 120  # an event may end this long after its anomaly (the score is smoothed over past intervals)


@dataclass(frozen=True)
class KindCard:
    """Injected anomalies against events, per kind of anomaly."""

    per_kind: dict[str, dict[str, int]]  # kind -> injected, found, right_kind
    false_events: int  # events that overlap no injected anomaly
    asset_days: float  # the scored time they were looked for in

    def totals(self) -> dict[str, int | float | None]:
        total = lambda k: sum(v[k] for v in self.per_kind.values())
        return {"injected": total("injected"), "found": total("found"), "right_kind": total("right_kind"),
                "false_events": self.false_events,
                "false_per_day": round(self.false_events / self.asset_days, 2) if self.asset_days else None}


def kind_card(truths: list[dict], events: list[dict], scored: dict[str, tuple], grace_s: int = GRACE_S) -> KindCard:
    """``truths``: injected anomalies (``asset_id``, ``kind`` of ``TRUE_KIND``, ``start``,
    ``end`` inclusive, as timestamps); ``events``: ``anomaly_events`` rows (``asset_id``,
    ``event_start``, ``event_end``, ``kind``; a null kind is process); ``scored``: asset ->
    (first, last) interval scored. Only anomalies inside an asset's scored span count, and
    only the events of those assets. An anomaly is found when an event of its asset
    overlaps [start, end + ``grace_s``], of the right kind when one such event has the kind
    ``TRUE_KIND`` gives it."""
    import pandas as pd

    grace = pd.Timedelta(seconds=grace_s)
    per_kind = {k: {"injected": 0, "found": 0, "right_kind": 0} for k in TRUE_KIND}
    matched: set[int] = set()
    for truth in truths:
        span = scored.get(truth["asset_id"])
        if span is None or not span[0] <= truth["start"] <= span[1]:
            continue
        hits = [i for i, e in enumerate(events) if e["asset_id"] == truth["asset_id"]
                and e["event_start"] <= truth["end"] + grace and e["event_end"] > truth["start"]]
        matched |= set(hits)
        card = per_kind[truth["kind"]]
        card["injected"] += 1
        card["found"] += bool(hits)
        card["right_kind"] += any((events[i]["kind"] or "process") == TRUE_KIND[truth["kind"]] for i in hits)
    false = sum(1 for i, e in enumerate(events) if e["asset_id"] in scored and i not in matched)
    days = sum((hi - lo).total_seconds() for lo, hi in scored.values()) / 86400
    return KindCard(per_kind, false, days)
