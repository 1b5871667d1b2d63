"""Event-kind benchmark (not a test): the production detector and event code on a simulated
fleet, scored against the simulator's ground truth per kind of injected anomaly.

    .venv/bin/python bench/kinds.py [--assets 12] [--seed 11] [--epochs 8]

Each pump runs 9 h at 1 Hz: 6 anomaly-free hours train the detector (conf/local.yaml's
spec, the demo's epochs and batch size), the last 3 h hold three injected anomalies and are
scored as the prediction job scores them (``models.serving.score_frame`` on the interval
grid); the score rows become events as the job builds them from the stored rows
(``merge_events``, ``merge_conditions``, ``classify``), and ``models.metrics.kind_card``
counts per kind: injected, found, found with the right kind (stuck, spike, drift:
instrument; cavitation: process), and false events. The demo's pumps are seed 7: never
used here, so nothing is chosen on the fleet the demo reports.

The last line is one JSON object: ``injected``, ``found``, ``right_kind``, ``false_events``,
``false_per_day`` and ``per_kind``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.compute import features_frame
from models.detector import Detector
from models.event_merging import classify, merge_conditions, merge_events
from models.metrics import kind_card
from models.serving import Grid, score_frame
from schemas import SENSOR_NAMES
from sensorwatch.config import load_settings
from sensorwatch.sources.simulator import simulate

TRAIN_S, SCORED_S = 6 * 3600, 3 * 3600
START = datetime(2026, 3, 2, tzinfo=UTC)


def landing_events(series) -> pd.DataFrame:
    parts = []
    for s in series:
        frame = pd.DataFrame({name: s.values[name] for name in SENSOR_NAMES})
        frame.insert(0, "event_time", pd.to_datetime(s.times_ms, unit="ms"))
        frame.insert(0, "asset_id", s.asset_id)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def events_from(scores: pd.DataFrame, interval_s: int) -> pd.DataFrame:
    """The job's events from score rows (as ``sensorwatch.operations.events`` builds them
    from the stored rows)."""
    scores = scores.assign(model_name="bench", model_version=1, run_id="bench")
    scores = scores.sort_values(["asset_id", "interval_start"], ignore_index=True)
    scores["after_exceeding"] = scores.groupby("asset_id")["exceeds"].shift(1)
    newest = scores.groupby("asset_id")["interval_start"].max().to_dict()
    conditions = scores[scores["instrument_check"].notna()]
    return classify(merge_events(scores, interval_s, newest), merge_conditions(conditions, interval_s, newest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    settings = load_settings("local")
    fspec = settings.features.spec()
    spec = replace(settings.model.spec(), epochs=args.epochs, batch_size=512)
    series = simulate(args.assets, TRAIN_S + SCORED_S, START, seed=args.seed, anomalies_per_asset=3,
                      warmup_s=TRAIN_S)
    rows = features_frame(landing_events(series), fspec)
    end_train = pd.Timestamp(START + timedelta(seconds=TRAIN_S)).tz_localize(None)
    started = time.perf_counter()
    detector = Detector.fit({a: g[g.interval_start < end_train].reset_index(drop=True)
                             for a, g in rows.groupby("asset_id")}, spec)
    train_s = time.perf_counter() - started
    grid = Grid.for_range(START + timedelta(seconds=TRAIN_S), START + timedelta(seconds=TRAIN_S + SCORED_S),
                          fspec.interval_s, detector.lookback_rows)
    started = time.perf_counter()
    scores = score_frame(detector, rows[rows.interval_start >= pd.Timestamp(grid.start).tz_localize(None)], grid)
    score_s = time.perf_counter() - started
    events = events_from(scores, fspec.interval_s)
    naive = lambda t: pd.Timestamp(t).tz_convert(None) if pd.Timestamp(t).tzinfo else pd.Timestamp(t)
    truths = [{"asset_id": a.asset_id, "kind": a.kind, "start": naive(a.start), "end": naive(a.end)}
              for s in series for a in s.anomalies]
    spans = scores.groupby("asset_id")["interval_start"].agg(["min", "max"])
    card = kind_card(truths, events.to_dict("records"), {a: (r["min"], r["max"]) for a, r in spans.iterrows()})
    print(f"{args.assets} pumps (seed {args.seed}): trained in {train_s:.0f} s, scored 3 h in {score_s:.0f} s")
    for kind, row in card.per_kind.items():
        print(f"  {kind:11s} injected {row['injected']:3d}  found {row['found']:3d}  right kind {row['right_kind']:3d}")
    by_kind = events["kind"].value_counts().to_dict()
    print(f"  events: {len(events)} ({by_kind}); false: {card.false_events}")
    # The model's events as the rules see them: the share of the top sensor, the truth they overlap.
    grace = pd.Timedelta(seconds=120)
    shares = []
    for e in events[events["sensor_shares"].map(len) > 1].itertuples():
        hit = [t["kind"] for t in truths if t["asset_id"] == e.asset_id and e.event_start <= t["end"] + grace
               and e.event_end > t["start"]]
        shares.append({"top_share": round(float(e.sensor_shares[0]), 3), "kind": e.kind, "truth": hit[:1] or None})
    print(json.dumps({"model_events": shares}))
    print(json.dumps({**card.totals(), "per_kind": card.per_kind, "assets": args.assets, "seed": args.seed,
                      "events_by_kind": by_kind, "train_s": round(train_s, 1), "score_s": round(score_s, 1)}))


if __name__ == "__main__":
    main()
