"""Prediction: the newest landing events -> ``anomaly_scores``, ``anomaly_events`` and monitoring.

One run scores the feature intervals of [T - predict.interval_s, T) (``--at T``, default
now), or of a backfill range ``--from/--to`` in one pass:

Extract: the landing partitions of the range plus the lookback its windows need
(``Grid``: the model's ``lookback_rows`` intervals, and before them the rolling lookback
of the model's input columns, if they have one) -- ``sensorwatch.pipeline.extract``.
Transform: ``features.transforms.compute_features`` (the one features implementation) for
the model's input columns only, then ``models.spark_scoring.score_and_forecast`` (one
``mapInPandas`` pass: the champion's files and the active threshold version travel with the
task, unpacked once per Python worker) makes the scores and each sensor's short forecasts
issued at the end of every cycle the range covers (``models.serving.scored_and_forecast``),
then lineage columns.
Load: ``anomaly_scores`` (staged bulk upsert), then the events around what was written
are rebuilt from the stored scores (``sensorwatch.operations.events``) while the forecasts
are upserted (``sensor_forecasts``; the short ones' intervals recalibrated by the stored
``forecast_calibration``), then
the monitoring rows (``monitoring_row``: pure, from the run's measured figures), then the
alerts that are due go to Kafka (``sensorwatch.operations.alerts``).

Challenger (canary): when the registry has a ``challenger`` version, the same feature rows
are scored by it too (one more forecast per window; each worker's model cache holds both
versions), into ``challenger_scores`` and ``challenger_events`` keyed by its version. It
raises no alerts and cannot fail the run: a challenger that cannot be loaded or scored is
a warning, and the champion's rows and alerts are written as without it. The comparison
is the view ``v_model_comparison`` (``sensorwatch model compare``).

Replay-safe: every score is a function of the events in a fixed time span before its
interval, and every write is an upsert by key, so re-running an interval, or a backfill
over past intervals, writes the rows a live run wrote (late events included: a re-run
sees them). Only ``run_id`` differs: it says which run wrote the row last.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.transforms import compute_features
from models import drift, registry
from models.forecasting import CALIBRATION_LAG_S, Recalibration
from models.registry import LoadedModel
from models.serving import Grid
from models.shipped import ShippedModel
from models.spark_scoring import forecasts_of, score_and_forecast, score_features, scores_of
from schemas import (
    ANOMALY_EVENTS,
    ANOMALY_SCORES,
    CHALLENGER_EVENTS,
    CHALLENGER_SCORES,
    FEATURE_DRIFT,
    PREDICTION_RUNS,
    SENSOR_FEATURES,
    SENSOR_FORECASTS,
    SENSOR_NAMES,
    Table,
)
from schemas.errors import SensorwatchError
from schemas.features import Selection
from schemas.time import TimeRange, interval_floor, naive_utc, now, utc
from sensorwatch.config import PredictConf, Settings
from sensorwatch.connectors.sql import SqlStore, bulk_upsert
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.statements import ScoreTables
from sensorwatch.operations.alerts import publish_alerts, publish_limit_alerts
from sensorwatch.operations.events import update_events
from sensorwatch.operations.threshold_versions import active as active_thresholds
from sensorwatch.pipeline.extract import Span, events_for, read_landing
from sensorwatch.pipeline.runs import Details, RunRecord, recorded_run

log = logging.getLogger(__name__)
JOB = "predict"
ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"
# Spark sizes an Arrow batch after every row while a byte limit is set (64 MB by default;
# only its maximum, INT_MAX, turns the check off). Set with the row limit for the rest of the
# run, whose Python passes (scoring, the writers) take rows of a known width bounded by the
# row limit (5,000 rows of scores: ~1 MB), so the byte limit never cuts a batch; the check
# cost 0.3 of the 1.4 JVM CPU seconds of a scoring pass at 1,000 pumps.
ARROW_BYTES_CONF, NO_BYTE_LIMIT = "spark.sql.execution.arrow.maxBytesPerBatch", str(2**31 - 1)
STAGES = ("read", "features", "scoring", "write", "forecast")


def scored_range(settings: Settings, at: datetime | None = None, span: TimeRange | None = None) -> TimeRange:
    """The intervals to score, on the feature grid: a backfill ``span``, or the last
    ``predict.interval_s`` that ended ``predict.lateness_s`` before ``at`` (default: now)."""
    interval_s = settings.features.interval_s
    if span is not None:
        return span.on_grid(interval_s)
    return TimeRange.last(settings.predict.interval_s, landed_until(settings, at or now()))


def landed_until(settings: Settings, clock: datetime) -> datetime:
    """The end of the newest interval a run at ``clock`` scores: ``predict.lateness_s``
    earlier, on the feature grid (the stream has landed what came before it)."""
    return interval_floor(clock - timedelta(seconds=settings.predict.lateness_s), settings.features.interval_s)


@dataclass
class Scored:
    """What the Spark part of a run produced and measured (Transform + Load's answer)."""

    rows_in: int = 0
    rows_out: int = 0
    open_events: int = 0
    forecasts: int = 0  # sensor_forecasts rows written
    seconds: dict[str, float] = field(default_factory=dict)
    write_split: dict[str, float] = field(default_factory=dict)  # the write stage: scores, refresh, events
    stats: dict[str, Any] = field(default_factory=dict)  # assets, anomalies, score quantiles
    drift: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # feature -> (psi, mean)
    challenger: dict[str, Any] = field(default_factory=dict)  # version, rows, open_events, seconds | error


@dataclass
class PredictDetails(Details):
    """A prediction run's own figures (``job_runs.details``), and what monitoring said."""

    model: str = ""
    version: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per stage (a failed run: those it finished)
    write_split: dict[str, float] = field(default_factory=dict)  # the write stage: scores, refresh, events
    rows_taken_over: int = 0  # rows of unfinished earlier runs over the span, now this run's
    alerts: dict[str, int] = field(default_factory=dict)  # published, tombstones
    anomalies: int = 0
    open_events: int = 0
    forecasts: int = 0  # sensor_forecasts rows written (short horizon)
    warnings: list[str] = field(default_factory=list)  # monitoring's (also logged)
    challenger: dict[str, Any] = field(default_factory=dict)  # version, rows, open_events, seconds | error


def run_predict(spark: SparkSession, settings: Settings, at: datetime | None = None,
                span: TimeRange | None = None, champion: LoadedModel | None = None) -> RunRecord[PredictDetails]:
    """One prediction run; returns its summary (also in ``job_runs`` and ``prediction_runs``).
    ``champion``: the registry's champion, loaded beforehand (the command loads it while the
    JVM starts); None: loaded here."""
    scored = scored_range(settings, at, span)
    store = SqlStore(settings).with_views()
    with recorded_run(store, JOB, PredictDetails()) as record:
        record.covering(scored)
        champion = champion if champion is not None else registry.load(settings.model)
        model = champion.scored_with(settings.predict.scorer)
        model.check_inputs(SENSOR_FEATURES.column_names)
        record.details.model, record.details.version = model.name, model.version
        done = Scored()
        challenger = load_challenger(settings, done)
        grid = Grid.for_range(scored.start, scored.end, settings.features.interval_s,
                              max(m.detector.lookback_rows for m in (model, challenger) if m is not None))
        try:
            predict(spark, settings, store, model, grid, record.run_id, done, challenger)
        finally:
            record.details.seconds, record.details.write_split = done.seconds, done.write_split
        record.rows_in, record.rows_out = done.rows_in, done.rows_out
        if not done.rows_out:  # nothing landed, or events only in the lookback
            record.status = "noop"
        monitor = monitoring_row(record.run_id, record.started_at, model, grid, done, settings.predict, now())
        if done.drift:
            store.upsert(FEATURE_DRIFT, drift_rows(record.run_id, model.version, grid, done.drift,
                                                   settings.predict.psi_warn))
        tables = [ANOMALY_SCORES, ANOMALY_EVENTS] + ([CHALLENGER_SCORES, CHALLENGER_EVENTS]
                                                    if done.challenger.get("rows") else [])
        record.details.rows_taken_over = take_over_unfinished(store, record.run_id, record.started_at, tables,
                                                                 grid.scored_start, grid.end)
        store.upsert(PREDICTION_RUNS, [monitor])  # the commit marker: the views show the run's rows
        for warning in monitor["warnings"]:
            log.warning("%s", warning)
        # Last: a broker outage fails the run with every SQL row written; the next run
        # publishes what is missing (also after a no-op run).
        published = publish_alerts(store, settings)
        record.details.alerts = {"published": published.messages, "tombstones": published.tombstones,
                                 "predicted_limit": publish_limit_alerts(store, settings)}
        record.details.anomalies, record.details.open_events = monitor["anomalies"], monitor["open_events"]
        record.details.forecasts = done.forecasts
        record.details.warnings, record.details.challenger = list(monitor["warnings"]), done.challenger
    return record.summary()


def load_challenger(settings: Settings, done: Scored) -> LoadedModel | None:
    """The registry's challenger, if any, checked against the features; a challenger that
    cannot be used is noted in ``done.challenger`` (a warning), never an error."""
    try:
        challenger = registry.load_challenger(settings.model)
        if challenger is None:
            return None
        challenger.check_inputs(SENSOR_FEATURES.column_names)
        return challenger.scored_with(settings.predict.scorer)
    except SensorwatchError as exc:
        done.challenger = {"version": registry.challenger_version(settings.model), "error": str(exc)}
        return None


def predict(spark: SparkSession, settings: Settings, store: SqlStore, model: LoadedModel, grid: Grid,
            run_id: str, done: Scored | None = None, challenger: LoadedModel | None = None) -> Scored:
    """Read, features, score, write; the events rebuilt; the figures monitoring needs;
    then the same for the ``challenger``, if given. Fills and returns ``done`` (a new
    ``Scored`` by default) as it goes. ``grid`` reads the lookback of both models."""
    spec, fspec = model.detector.spec, settings.features.spec()
    done = done if done is not None else Scored()
    clock = time.monotonic()

    def lap(stage: str) -> None:
        nonlocal clock
        done.seconds[stage] = round(time.monotonic() - clock, 2)
        clock = time.monotonic()

    cached: list[DataFrame] = []
    try:
        # Only the models' inputs are computed (drift is measured on them too).
        inputs = Selection.of(_inputs(model, challenger), SENSOR_NAMES)
        landing = read_landing(spark, settings)
        events = events_for(landing, [Span(None, grid.start, grid.end)], fspec, inputs) \
            if landing is not None else None
        done.rows_in = _materialise(events, cached)
        lap("read")
        if not done.rows_in:
            return done
        assert events is not None  # rows_in > 0
        rows = compute_features(events, fspec, inputs).where(
            (F.col("interval_start") >= F.lit(grid.start)) & (F.col("interval_start") < F.lit(grid.end)))
        _materialise(rows, cached)
        lap("features")
        spark.conf.set(ARROW_BATCH_CONF, str(settings.predict.arrow_batch_rows))
        spark.conf.set(ARROW_BYTES_CONF, NO_BYTE_LIMIT)
        both, threshold_version = scored_and_forecast_by(store, rows, model, grid, settings)  # one pass, both
        _materialise(both, cached)
        scores = with_lineage(scores_of(both), model, run_id, threshold_version)
        done.rows_out = scores.count()
        lap("scoring")
        if not done.rows_out:
            return done
        bulk_upsert(store, scores, ANOMALY_SCORES, seconds=done.write_split)
        # The forecasts' upsert (Spark's writers) runs while the events are rebuilt (SQL from
        # this process): the two wait on different things. Both are done before the run commits.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecasts") as pool:
            forecasts = pool.submit(write_forecasts, store, forecasts_of(both), model, run_id)
            # The monitoring figures come from small projections, computed in this process.
            scored: pd.DataFrame = scores.select("asset_id", "score", "is_anomaly").toPandas()
            started = time.monotonic()
            done.open_events = update_events(store, sorted(scored["asset_id"].unique()), grid, spec.min_duration)
            done.write_split["events"] = round(time.monotonic() - started, 2)
            lap("write")
            done.forecasts = forecasts.result()
            lap("forecast")  # what is left of the forecasts' upsert once the events are written
        done.stats = score_stats(scored)
        reference = model.detector.training.get("reference", {})
        if reference:
            inputs_now = rows.where(F.col("interval_start") >= F.lit(grid.scored_start)).select(*reference)
            done.drift = drift.of_columns(inputs_now.toPandas(), reference)
        if challenger is not None:
            challenge(store, rows, challenger, grid, run_id, done, cached, settings.predict.memo_path)
            done.seconds["challenger"] = done.challenger["seconds"]
        return done
    finally:
        for df in cached:
            df.unpersist()


def scored_and_forecast_by(store: SqlStore, rows: DataFrame, model: LoadedModel, grid: Grid,
                           settings: Settings) -> tuple[DataFrame, int]:
    """``model``'s scores and short forecasts (``models.serving.BOTH_COLUMNS``) for the feature
    ``rows``, and the threshold version scored with: its files and active thresholds shipped
    with the task, the lookback its own spec needs."""
    shipped, own, version = _shipped_on_own_grid(store, model, grid)
    recalibration = stored_recalibration(store, own, settings.predict.interval_s)
    return score_and_forecast(rows, shipped, model.detector.spec.columns, own, settings.predict.interval_s,
                              settings.forecast.limit_table(), recalibration,
                              memo_dir=settings.predict.memo_path), version


def stored_recalibration(store: SqlStore, grid: Grid, every_s: int) -> Recalibration:
    """The short forecasts' interval recalibrations (``forecast_calibration``) that the
    issues of ``grid`` may use (``models.forecasting.Recalibration``)."""
    issues = grid.issues(every_s)
    if not len(issues):
        return Recalibration()
    lag = timedelta(seconds=CALIBRATION_LAG_S)
    names = ["asset_id", "sensor", "calibrated_at", "scale80", "scale95"]
    rows = pd.DataFrame(store.query(q.calibrations_for(store.target, "short", utc(issues[0]) - lag,
                                                       utc(issues[-1]) - lag)), columns=names)
    rows["calibrated_at"] = naive_utc(rows["calibrated_at"])
    return Recalibration.of_rows(rows, SENSOR_NAMES, CALIBRATION_LAG_S)


def write_forecasts(store: SqlStore, made: DataFrame, model: LoadedModel, run_id: str) -> int:
    """Each sensor's short forecasts (``models.serving.FORECAST_COLUMNS``: ``made`` is read
    twice, so cached), with lineage, upserted into ``sensor_forecasts``; returns the rows."""
    made = made.select(*made.columns, F.lit(model.name).alias("model_name"),
                       F.lit(model.version).alias("model_version"), F.lit(run_id).alias("run_id"),
                       F.date_trunc("day", F.col("issued_at")).alias("day")).select(*SENSOR_FORECASTS.column_names)
    written = made.count()
    if written:
        bulk_upsert(store, made, SENSOR_FORECASTS)
    return written


def take_over_unfinished(store: SqlStore, run_id: str, started_at: datetime, tables: list[Table],
                         start: datetime, end: datetime) -> int:
    """Before this run commits: its span's rows that still carry the id of a run that
    started before it and never committed (killed before its ``prediction_runs`` row)
    become this run's. This run has just rewritten them (the upsert keeps a row's
    ``run_id`` when the values are the same), so they are its output; without it the views
    would hide them for good. Only earlier runs: of two runs over one span at once, the
    later takes over from the earlier, never both from each other. Returns how many rows
    it took over."""
    found = {table.name: {r.run_id for r in store.query(q.run_ids_in_span(store.target, table, start, end))} - {run_id}
             for table in tables}
    others = sorted(set().union(*found.values()))
    earlier = sorted(r.run_id for r in store.query(q.runs_started_before(store.target, others, started_at))) \
        if others else []
    if not earlier:
        return 0
    unfinished = set(earlier) - {r.run_id for r in store.query(q.committed_runs(store.target, earlier))}
    taken = 0
    for table in tables:
        if ids := sorted(found[table.name] & unfinished):
            taken += store.execute(q.take_over_rows(store.target, table, start, end, ids, run_id))
            store.refresh(table)
    return taken


def scored_by(store: SqlStore, rows: DataFrame, model: LoadedModel, grid: Grid, run_id: str,
              memo_dir: str | None = None) -> DataFrame:
    """``model``'s score rows (with lineage) for the feature ``rows``: its files and active
    thresholds shipped with the task, the lookback its own spec needs."""
    shipped, own, version = _shipped_on_own_grid(store, model, grid)
    return with_lineage(score_features(rows, shipped, model.detector.spec.columns, own, memo_dir=memo_dir),
                        model, run_id, version)


def _shipped_on_own_grid(store: SqlStore, model: LoadedModel, grid: Grid) -> tuple[ShippedModel, Grid, int]:
    """``model``'s files with its active thresholds, the grid with the lookback its own spec
    needs, and that threshold version."""
    version, thresholds = active_thresholds(store, model.name, model.version)
    own = Grid.for_range(grid.scored_start, grid.end, grid.interval_s, model.detector.lookback_rows)
    return model.shipped(thresholds, version), own, version


def challenge(store: SqlStore, rows: DataFrame, challenger: LoadedModel, grid: Grid, run_id: str, done: Scored,
              cached: list[DataFrame], memo_dir: str | None = None) -> None:
    """The challenger's scores and events, beside the champion's. Any failure is the
    challenger's: noted in ``done.challenger`` (a warning), the run goes on."""
    started = time.monotonic()
    done.challenger = {"version": challenger.version}
    try:
        scores = scored_by(store, rows, challenger, grid, run_id, memo_dir)
        done.challenger["rows"] = _materialise(scores, cached)
        if done.challenger["rows"]:
            bulk_upsert(store, scores, CHALLENGER_SCORES)
            assets = sorted(r.asset_id for r in scores.select("asset_id").distinct().collect())
            done.challenger["open_events"] = update_events(
                store, assets, grid, challenger.detector.spec.min_duration, ScoreTables.challenger(challenger.version))
    except Exception as exc:  # a canary must not take the champion's run down with it
        log.exception("challenger v%s failed; the champion's results are unaffected", challenger.version)
        done.challenger["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    done.challenger["seconds"] = round(time.monotonic() - started, 2)


def _inputs(*models: LoadedModel | None) -> list[str]:
    """The feature columns the models read, in order of first use."""
    return list(dict.fromkeys(c for m in models if m is not None for c in m.detector.spec.columns))


def with_lineage(scores: DataFrame, model: LoadedModel, run_id: str, threshold_version: int = 0) -> DataFrame:
    """Scores -> ``anomaly_scores`` rows: the model, the run, the landing partition, the
    threshold version, the day."""
    t = F.col("interval_start")
    return scores.select(
        *scores.columns, F.lit(model.name).alias("model_name"), F.lit(model.version).alias("model_version"),
        F.lit(run_id).alias("run_id"),
        F.concat(F.lit("date="), F.date_format(t, "yyyy-MM-dd"), F.lit("/hour="), F.hour(t).cast("string"))
        .alias("source_partition"),
        F.lit(threshold_version).alias("threshold_version"),
        F.date_trunc("day", t).alias("day"),
    ).select(*ANOMALY_SCORES.column_names)


def score_stats(scored: pd.DataFrame) -> dict[str, Any]:
    """Assets, anomalies and the score distribution of the scored rows (``asset_id``,
    ``score``, ``is_anomaly``; a row without a score has NaN)."""
    score = scored["score"].to_numpy(np.float64)
    finite = score[np.isfinite(score)]
    quantiles = np.quantile(finite, [0.5, 0.95, 0.99]).tolist() if len(finite) else [None, None, None]
    return {"assets": int(scored["asset_id"].nunique()), "anomalies": int(scored["is_anomaly"].sum()),
            "score_p50": quantiles[0], "score_p95": quantiles[1], "score_p99": quantiles[2],
            "score_max": float(finite.max()) if len(finite) else None}


def monitoring_row(run_id: str, started_at: datetime, model: LoadedModel, grid: Grid, done: Scored,
                   conf: PredictConf, at: datetime) -> dict[str, Any]:
    """The ``prediction_runs`` row (pure): volumes, timings, the score distribution,
    staleness and drift as of ``at``, with a warning for each limit passed."""
    trained_until = model.detector.training.get("data_end")
    known = {f: psi for f, (psi, _) in done.drift.items() if psi is not None}
    drifted = sorted(f for f, psi in known.items() if psi > conf.psi_warn)
    row: dict[str, Any] = {
        "run_id": run_id, "started_at": started_at, "interval_start": grid.scored_start,
        "interval_end": grid.end, "model_name": model.name, "model_version": model.version,
        "assets": 0, "rows_scored": done.rows_out, "anomalies": 0, "open_events": done.open_events,
        "duration_s": round(sum(done.seconds.values()), 2),
        **{f"{stage}_s": done.seconds.get(stage) for stage in STAGES},
        "score_p50": None, "score_p95": None, "score_p99": None, "score_max": None,
        **done.stats,
        "model_age_h": round((at - model.created).total_seconds() / 3600, 3),
        "data_since_training_h": round((grid.end - utc(datetime.fromisoformat(trained_until))).total_seconds()
                                       / 3600, 3) if trained_until else None,
        "max_psi": max(known.values()) if known else None, "drifted_features": drifted, "warnings": [],
        "challenger_version": done.challenger.get("version"), "challenger_s": done.seconds.get("challenger"),
    }
    for what, hours in (("registered", row["model_age_h"]), ("trained on data ending", row["data_since_training_h"])):
        if hours is not None and hours > conf.stale_after_h:
            row["warnings"].append(f"stale model: {model.name} v{model.version} was {what} {hours:.1f} h ago "
                                   f"(predict.stale_after_h = {conf.stale_after_h:g}): retrain (sensorwatch train)")
    if "error" in done.challenger:
        row["warnings"].append(f"challenger v{done.challenger['version']} not scored: {done.challenger['error']} "
                               "(the champion's results are unaffected)")
    if drifted:
        row["warnings"].append(f"feature drift: PSI > {conf.psi_warn:g} for {', '.join(drifted)} "
                               f"(max {row['max_psi']:.2f}) against the training data of v{model.version}")
    return row


def drift_rows(run_id: str, version: int, grid: Grid, drifts: dict[str, tuple[float | None, float | None]],
               psi_warn: float) -> list[dict[str, Any]]:
    """The ``feature_drift`` rows of a run."""
    return [{"run_id": run_id, "feature": f, "interval_end": grid.end, "model_version": version, "psi": psi,
             "mean": mean, "drifted": psi is not None and psi > psi_warn} for f, (psi, mean) in drifts.items()]


def _materialise(df: DataFrame | None, cached: list[DataFrame]) -> int:
    """Cache and count (so each stage's time is its own); None counts as empty."""
    if df is None:
        return 0
    cached.append(df.cache())
    return df.count()


