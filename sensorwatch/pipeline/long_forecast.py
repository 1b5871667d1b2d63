"""The long forecast: every sensor's next 24 hourly means, issued hourly (``sensorwatch forecast``).

Extract: the hourly means of the ``forecast.history_h`` hours before the issue hour, from
the features the features job wrote to the SQL store.
Transform: per asset, in Spark's Python workers (``applyInPandas``), each sensor's hourly
series through statsforecast's ``forecast.long_method`` (``models.forecasting.long_forecast``;
bench/forecast.py chose it), with 80 % and 95 % intervals and the probability of being
beyond the sensor's operating limits (``models.serving.with_limits``).
Load: ``sensor_forecasts`` rows (horizon ``long``; lineage: model ``statsforecast``, version
0, the run), upserted by key: a re-run for the same issue hour writes the same rows; then
the ``predicted_limit`` alerts that are due (``sensorwatch.operations.alerts``).

First, the intervals' recalibration (``recalibrate``): from the forecasts issued in the
hours before the issue hour whose periods have ended (the short ones of the last
``forecast.calibration_h`` hours, the long ones of the ``forecast.history_h`` hours the
long forecast is fitted on), per asset, sensor and horizon, the factors that would have
made 80 % and 95 % of them cover their actuals (computed in the store), upserted into
``forecast_calibration`` for the issue hour. The long forecasts issued now use them at once; the prediction cycles'
short ones from an hour later (``models.forecasting.Recalibration``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from models import forecasting
from models.serving import Limits, with_limits
from schemas import FORECAST_CALIBRATION, SENSOR_FORECASTS, SENSOR_NAMES
from schemas.features import column
from schemas.time import TimeRange, interval_floor, naive_utc, now
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore, bulk_upsert
from sensorwatch.connectors.sql import statements as q
from sensorwatch.operations.alerts import publish_limit_alerts
from sensorwatch.pipeline.runs import Details, RunRecord, recorded_run

log = logging.getLogger(__name__)
JOB = "forecast"
MODEL = "statsforecast"


@dataclass
class ForecastDetails(Details):
    issued_at: str = ""
    method: str = ""
    assets: int = 0
    recalibrated: dict[str, int] = field(default_factory=dict)  # horizon -> asset x sensor recalibrations written
    limit_alerts: int = 0  # predicted_limit alerts published


def issue_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def run_long_forecast(spark: SparkSession, settings: Settings,
                      at: datetime | None = None) -> RunRecord[ForecastDetails]:
    """One run: the forecasts issued at the hour of ``at`` (default now)."""
    conf = settings.forecast
    issued = issue_hour(at or now())
    history = TimeRange(issued - timedelta(hours=conf.history_h), issued)
    store = SqlStore(settings).with_views()
    with recorded_run(store, JOB, ForecastDetails(issued.isoformat(), conf.long_method)) as record:
        record.covering(history)
        scales = recalibrate(store, issued, {"short": conf.calibration_h, "long": conf.history_h}, record.run_id)
        record.details.recalibrated = {h: len(per) for h, per in scales.items()}
        names = ["asset_id", "hour", *(column(s, "mean") for s in SENSOR_NAMES)]
        hourly = pd.DataFrame(store.query(q.hourly_means(store.target, history.start, history.end)), columns=names)
        record.rows_in = len(hourly)
        if hourly.empty:
            record.status = "noop"
            return record.summary()
        hourly["hour"] = naive_utc(hourly["hour"])
        record.details.assets = int(hourly["asset_id"].nunique())
        per_asset = partial(long_rows, history=history, method=conf.long_method, limits=conf.limit_table(),
                            run_id=record.run_id, scales=scales.get("long", {}))
        made = spark.createDataFrame(hourly).groupBy("asset_id").applyInPandas(
            lambda frame: per_asset(frame), SENSOR_FORECASTS.spark_schema()).cache()  # no type hints to infer
        try:
            record.rows_out = made.count()
            if record.rows_out:
                bulk_upsert(store, made, SENSOR_FORECASTS)
        finally:
            made.unpersist()
        record.details.limit_alerts = publish_limit_alerts(store, settings)
    return record.summary()


Scales = dict[tuple[str, str], tuple[float, float]]  # (asset, sensor) -> (scale80, scale95)


def recalibrate(store: SqlStore, issued: datetime, spans_h: dict[str, int], run_id: str) -> dict[str, Scales]:
    """The recalibration for the hour ``issued`` of each horizon from its forecasts of the
    ``spans_h`` hours before it (``statements.forecast_calibration``), upserted into
    ``forecast_calibration``; returns it per horizon."""
    scales: dict[str, Scales] = {}
    day = interval_floor(issued, 86400)  # the day partition
    for horizon, hours in spans_h.items():
        rows = store.query(q.forecast_calibration(store.target, horizon, issued - timedelta(hours=hours), issued,
                                                  forecasting.MIN_MATURED))
        if rows:
            store.upsert(FORECAST_CALIBRATION, [
                {"asset_id": r.asset_id, "sensor": r.sensor, "horizon": horizon, "calibrated_at": issued,
                 "matured": int(r.matured), "scale80": float(r.scale80), "scale95": float(r.scale95),
                 "run_id": run_id, "day": day} for r in rows])
            scales[horizon] = {(r.asset_id, r.sensor): (float(r.scale80), float(r.scale95)) for r in rows}
    log.info("forecast intervals recalibrated at %s: %s", issued.isoformat(),
             {h: len(per) for h, per in scales.items()} or "no matured forecasts yet")
    return scales


def long_rows(hourly: pd.DataFrame, history: TimeRange, method: str, limits: Limits, run_id: str,
              scales: Scales | None = None) -> pd.DataFrame:
    """One asset's hourly means (``asset_id``, naive-UTC ``hour``, ``<sensor>__mean``) ->
    its ``sensor_forecasts`` rows issued at ``history.end``, their intervals recalibrated by
    ``scales`` (none for a sensor: as fitted), and the actual mean of the hour before it
    (``steps_ahead`` 0; pure: what each worker runs)."""
    asset = str(hourly["asset_id"].iloc[0])
    hours = pd.date_range(pd.Timestamp(history.start).tz_convert(None), pd.Timestamp(history.end).tz_convert(None),
                          freq="h", inclusive="left")
    grid = hourly.drop_duplicates("hour").set_index("hour").reindex(hours)
    made = forecasting.long_forecast({s: grid[column(s, "mean")].to_numpy(np.float64) for s in SENSOR_NAMES}, method)
    if not made:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SENSOR_FORECASTS.column_names})
    issued = pd.Timestamp(history.end).tz_convert(None)
    last = grid.iloc[-1]  # the hour before the issue: its actual mean (steps_ahead 0)
    parts = [pd.DataFrame({
        "asset_id": asset, "sensor": list(SENSOR_NAMES), "horizon": "long", "issued_at": issued,
        "target_start": hours[-1], "step_s": 3600, "steps_ahead": np.int32(0),
        "actual": [last[column(s, "mean")] for s in SENSOR_NAMES], "method": method}).dropna(subset=["actual"])]
    for sensor, f in made.items():
        f = f.scaled(*(scales or {}).get((asset, sensor), (1.0, 1.0)))
        steps = f.mean.shape[1]
        parts.append(pd.DataFrame({
            "asset_id": asset, "sensor": sensor, "horizon": "long", "issued_at": issued,
            "target_start": issued + pd.to_timedelta(np.arange(steps), unit="h"), "step_s": 3600,
            "steps_ahead": np.arange(1, steps + 1, dtype=np.int32),
            **{name: np.broadcast_to(getattr(f, name), f.mean.shape)[0, :, 0]
               for name in ("mean", "lo80", "hi80", "lo95", "hi95", "scale80", "scale95")},
            "method": method}).rename(columns={"mean": "forecast"}))
    out = with_limits(pd.concat(parts, ignore_index=True), limits)
    return out.assign(model_name=MODEL, model_version=0, run_id=run_id,
                      day=out["issued_at"].dt.floor("D"))[SENSOR_FORECASTS.column_names]
