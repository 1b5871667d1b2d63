"""Prediction: the newest landing events -> ``anomaly_scores``, ``anomaly_events`` and monitoring.

One run scores the feature intervals of [T - predict.interval_s, T) (``--at T``, default
now), or of a backfill range ``--from/--to`` in one pass:

Extract: the landing partitions of the range plus the lookback its windows need
(``Grid``: the model's ``lookback_rows`` intervals, and before them the features' own
rolling lookback) -- ``features_job.events_for``.
Transform: ``features.transforms.compute_features`` (the one features implementation),
then ``models.transforms.score_features`` (``mapInPandas``; the champion loaded once per
Python worker, by version), then lineage columns.
Load: ``anomaly_scores`` (staged bulk upsert), then the events around what was written
are rebuilt from the stored scores (``models.events``), then the monitoring rows.

Replay-safe: every score is a function of the events in a fixed time span before its
interval, and every write is an upsert by key, so re-running an interval, or a backfill
over past intervals, writes the rows a live run wrote (late events included: a re-run
sees them). Only ``run_id`` differs: it says which run wrote the row last.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.transforms import compute_features
from models import drift, registry
from models.events import merge_events
from models.registry import LoadedModel
from models.serving import Grid
from models.transforms import score_features
from schemas import (ANOMALY_EVENTS, ANOMALY_SCORES, FEATURE_DRIFT, PREDICTION_RUNS, SENSOR_FEATURES,
                     SQL_TABLES)
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.features_job import Span, check_range, events_for, interval_ceil, interval_floor, read_landing
from sensorwatch.runs import RunRecord, recorded_run

log = logging.getLogger(__name__)
JOB = "predict"
ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"


def scored_range(settings: Settings, at: datetime | None = None, start: datetime | None = None,
                 end: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) on the feature interval grid: a backfill range, or the last
    ``predict.interval_s`` before ``at`` (default: now)."""
    check_range(start, end)
    spec = settings.features.spec()
    if start is not None and end is not None:
        return interval_floor(start, spec), interval_ceil(end, spec)
    end = interval_floor(at or datetime.now(timezone.utc), spec)
    return end - timedelta(seconds=settings.predict.interval_s), end


def run_predict(spark: SparkSession, settings: Settings, at: datetime | None = None,
                start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """One prediction run; returns its summary (also in ``job_runs`` and ``prediction_runs``)."""
    scored_start, scored_end = scored_range(settings, at, start, end)
    store = SqlStore(settings)
    store.create_tables(SQL_TABLES)
    store.create_views()
    with recorded_run(store, JOB) as record:
        record.range_start, record.range_end = scored_start, scored_end
        model = registry.load(settings.model)
        model.check_inputs(SENSOR_FEATURES.column_names)
        record.details.update(model=model.name, version=model.version)
        grid = Grid.for_range(scored_start, scored_end, settings.features.interval_s,
                              model.detector.spec.lookback_rows)
        monitor = _predict(spark, settings, store, model, grid, record)
        store.upsert(PREDICTION_RUNS, [monitor])
        for warning in monitor["warnings"]:
            log.warning("%s", warning)
    return {**record.summary(), "warnings": monitor["warnings"], "anomalies": monitor["anomalies"],
            "open_events": monitor["open_events"]}


def _predict(spark: SparkSession, settings: Settings, store: SqlStore, model: LoadedModel, grid: Grid,
             record: RunRecord) -> dict[str, Any]:
    """Read, features, score, write; returns the ``prediction_runs`` row."""
    spec, fspec = model.detector.spec, settings.features.spec()
    seconds: dict[str, float] = {}
    clock = time.monotonic()

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage] = round(time.monotonic() - clock, 2)
        clock = time.monotonic()

    cached: list[DataFrame] = []
    try:
        landing = read_landing(spark, settings)
        events = events_for(landing, [Span(None, grid.start, grid.end)], fspec) if landing is not None else None
        record.rows_in = _materialise(events, cached)
        lap("read")
        if not record.rows_in:
            record.status, record.rows_out = "noop", 0
            return _monitoring(record, model, grid, None, None, 0, seconds, settings)
        rows = compute_features(events, fspec).where(
            (F.col("interval_start") >= F.lit(grid.start)) & (F.col("interval_start") < F.lit(grid.end)))
        _materialise(rows, cached)
        lap("features")
        spark.conf.set(ARROW_BATCH_CONF, str(settings.predict.arrow_batch_rows))
        scores = with_lineage(score_features(rows, model.ref, spec.columns, grid), model, record.run_id)
        record.rows_out = _materialise(scores, cached)
        lap("scoring")
        if not record.rows_out:  # events only in the lookback: no interval of the range to score
            record.status = "noop"
            return _monitoring(record, model, grid, None, None, 0, seconds, settings)
        store.bulk_upsert(scores, ANOMALY_SCORES, tag=record.run_id[:12])
        assets = [r["asset_id"] for r in scores.select("asset_id").distinct().collect()]
        open_events = update_events(store, assets, grid, spec.min_duration)
        lap("write")
        in_range = rows.where(F.col("interval_start") >= F.lit(grid.scored_start))
        return _monitoring(record, model, grid, scores, in_range, open_events, seconds, settings, store)
    finally:
        record.details["seconds"] = seconds
        for df in cached:
            df.unpersist()


def with_lineage(scores: DataFrame, model: LoadedModel, run_id: str) -> DataFrame:
    """Scores -> ``anomaly_scores`` rows: the model, the run, the landing partition, the day."""
    t = F.col("interval_start")
    return scores.select(
        *scores.columns, F.lit(model.name).alias("model_name"), F.lit(model.version).alias("model_version"),
        F.lit(run_id).alias("run_id"),
        F.concat(F.lit("date="), F.date_format(t, "yyyy-MM-dd"), F.lit("/hour="), F.hour(t).cast("string"))
        .alias("source_partition"),
        F.date_trunc("day", t).alias("day"),
    ).select(*ANOMALY_SCORES.column_names)


def update_events(store: SqlStore, assets: list[str], grid: Grid, min_duration: int) -> int:
    """Rebuild the events of ``assets`` around the scored range from the stored scores:
    from ``min_duration`` intervals before it (an onset a previous run saw) or the start
    of an event it touches, to its end or the end of such an event. New and grown events
    are upserted first, then events that no longer exist are deleted. Returns the number
    of open events among them."""
    if not assets:
        return 0
    step = timedelta(seconds=grid.interval_s)
    lo, hi = grid.scored_start - step * min_duration, grid.end
    marks = ", ".join(["%s"] * len(assets))
    touching = store.query(
        f"SELECT asset_id, min(event_start), max(event_end) FROM {store.name(ANOMALY_EVENTS)} "
        f"WHERE asset_id IN ({marks}) AND event_end >= %s AND event_start <= %s GROUP BY asset_id", [*assets, lo, hi])
    spans = {a: (lo, hi) for a in assets}
    for asset, first, last in touching:
        spans[asset] = (min(lo, first), max(hi, last))
    start, end = min(s for s, _ in spans.values()), max(e for _, e in spans.values())
    names = ["asset_id", "interval_start", "score", "threshold", "exceeds", "is_anomaly", "top_sensors",
             "top_contributions", "model_name", "model_version", "run_id"]
    # The rows above the threshold, each with whether the asset's previous score row was
    # above it too (a run goes on over intervals without data: models.events).
    exceeding = pd.DataFrame(store.query(
        f"SELECT {store.column_list(names)}, after_exceeding FROM (SELECT {store.column_list(names)}, "
        "lag(exceeds) OVER (PARTITION BY asset_id ORDER BY interval_start) AS after_exceeding "
        f"FROM {store.name(ANOMALY_SCORES)} WHERE asset_id IN ({marks}) "
        "AND interval_start >= %s AND interval_start < %s) AS scored WHERE exceeds",
        [*assets, start, end]), columns=[*names, "after_exceeding"])
    exceeding["interval_start"] = pd.to_datetime(exceeding["interval_start"], utc=True)
    exceeding = exceeding.loc[np.array([spans[a][0] <= t < spans[a][1] for a, t in
                                    zip(exceeding["asset_id"], exceeding["interval_start"])], dtype=bool)]
    newest = {a: pd.Timestamp(t) for a, t in store.query(
        f"SELECT asset_id, max(interval_start) FROM {store.name(ANOMALY_SCORES)} WHERE asset_id IN ({marks}) "
        "GROUP BY asset_id", assets)}
    events = merge_events(exceeding, grid.interval_s, newest)
    store.upsert(ANOMALY_EVENTS, _records(events))
    kept = {(a, pd.Timestamp(t)) for a, t in zip(events["asset_id"], events["event_start"])}
    stale = [(a, s, d) for a, s, d in store.query(
        f'SELECT asset_id, event_start, "day" FROM {store.name(ANOMALY_EVENTS)} WHERE asset_id IN ({marks}) '
        "AND event_start >= %s AND event_start < %s", [*assets, start, end])
        if (a, pd.Timestamp(s)) not in kept and spans[a][0] <= s < spans[a][1]]
    store.delete_keys(ANOMALY_EVENTS, stale)
    return int(events["is_open"].sum()) if len(events) else 0


def _monitoring(record: RunRecord, model: LoadedModel, grid: Grid, scores: DataFrame | None,
                features: DataFrame | None, open_events: int, seconds: dict[str, float], settings: Settings,
                store: SqlStore | None = None) -> dict[str, Any]:
    """The ``prediction_runs`` row (and the ``feature_drift`` rows): volumes, timings, the
    score distribution, staleness and drift, with a warning for each limit passed."""
    conf = settings.predict
    now = datetime.now(timezone.utc)
    trained_until = model.detector.training.get("data_end")
    row: dict[str, Any] = {
        "run_id": record.run_id, "started_at": record.started_at, "interval_start": grid.scored_start,
        "interval_end": grid.end, "model_name": model.name, "model_version": model.version,
        "assets": 0, "rows_scored": record.rows_out or 0, "anomalies": 0, "open_events": open_events,
        "duration_s": round(sum(seconds.values()), 2),
        **{f"{stage}_s": seconds.get(stage) for stage in ("read", "features", "scoring", "write")},
        "score_p50": None, "score_p95": None, "score_p99": None, "score_max": None,
        "model_age_h": round((now - model.created).total_seconds() / 3600, 3),
        "data_since_training_h": round((grid.end - datetime.fromisoformat(trained_until)).total_seconds() / 3600, 3)
        if trained_until else None,
        "max_psi": None, "drifted_features": [], "warnings": [],
    }
    if scores is not None:
        stats = scores.agg(F.countDistinct("asset_id"), F.sum(F.col("is_anomaly").cast("long")),
                           F.percentile_approx("score", [0.5, 0.95, 0.99], 10000), F.max("score")).first()
        row.update(assets=stats[0], anomalies=stats[1] or 0, score_max=stats[3])
        if stats[2]:
            row.update(score_p50=stats[2][0], score_p95=stats[2][1], score_p99=stats[2][2])
    if features is not None and store is not None:
        drifts = feature_drift(features, model.detector.training.get("reference", {}))
        store.upsert(FEATURE_DRIFT, [{"run_id": record.run_id, "feature": f, "interval_end": grid.end,
                                      "model_version": model.version, "psi": psi, "mean": mean,
                                      "drifted": psi is not None and psi > conf.psi_warn}
                                     for f, (psi, mean) in drifts.items()])
        known = [psi for psi, _ in drifts.values() if psi is not None]
        row["max_psi"] = max(known) if known else None
        row["drifted_features"] = sorted(f for f, (psi, _) in drifts.items() if psi is not None and psi > conf.psi_warn)
    for what, hours in (("registered", row["model_age_h"]), ("trained on data ending", row["data_since_training_h"])):
        if hours is not None and hours > conf.stale_after_h:
            row["warnings"].append(f"stale model: {model.name} v{model.version} was {what} {hours:.1f} h ago "
                                   f"(predict.stale_after_h = {conf.stale_after_h:g}): retrain (sensorwatch train)")
    if row["drifted_features"]:
        row["warnings"].append(f"feature drift: PSI > {conf.psi_warn:g} for {', '.join(row['drifted_features'])} "
                               f"(max {row['max_psi']:.2f}) against the training data of v{model.version}")
    record.details.update(anomalies=row["anomalies"], open_events=open_events, warnings=row["warnings"])
    return row


def feature_drift(features: DataFrame, reference: dict[str, dict]) -> dict[str, tuple[float | None, float | None]]:
    """Per model input with a training reference: (PSI of the values in ``features``, their mean).
    One Spark aggregation: each value's reference bin is the number of bin edges <= it."""
    if not reference:
        return {}
    aggs = []
    for c, ref in reference.items():
        value = F.col(c)
        bin_ix = sum((F.when(value >= F.lit(e), 1).otherwise(0) for e in ref["edges"]), F.lit(0))
        aggs.append(F.avg(value).alias(f"{c}|mean"))
        aggs += [F.sum(F.when(value.isNotNull() & ~F.isnan(value) & (bin_ix == k), 1).otherwise(0)).alias(f"{c}|{k}")
                 for k in range(len(ref["shares"]))]
    got = features.agg(*aggs).first().asDict()
    return {c: (drift.psi_of_counts(ref, np.array([got[f"{c}|{k}"] for k in range(len(ref["shares"]))])),
                got[f"{c}|mean"]) for c, ref in reference.items()}


def _materialise(df: DataFrame | None, cached: list[DataFrame]) -> int:
    """Cache and count (so each stage's time is its own); None counts as empty."""
    if df is None:
        return 0
    cached.append(df.cache())
    return df.count()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the SQL driver: UTC datetimes and Python scalars instead of pandas/numpy ones."""
    out = []
    for row in frame.to_dict("records"):
        out.append({k: _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return (value.tz_localize("UTC") if value.tzinfo is None else value).to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, np.ndarray)):
        return [_plain(v) for v in value]
    return value
