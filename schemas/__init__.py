"""The single source of truth for every record and table (see ``records``)."""

from schemas.core import DIALECTS, Field, Kind, Table, ddl, json_schema, qualified, sql_type
from schemas.records import (
    ANOMALY_ALERTS,
    ANOMALY_EVENTS,
    ANOMALY_SCORES,
    ASSET_ID_MAX_LEN,
    FEATURE_DRIFT,
    JOB_RUNS,
    LAKE_TABLES,
    LANDING_EVENTS,
    PREDICTION_RUNS,
    QUARANTINE_EVENTS,
    SENSOR_EVENT,
    SENSOR_FEATURES,
    SENSOR_NAMES,
    SENSORS,
    SQL_TABLES,
    Sensor,
)

__all__ = [
    "ANOMALY_ALERTS", "ANOMALY_EVENTS", "ANOMALY_SCORES", "FEATURE_DRIFT", "PREDICTION_RUNS",
    "ASSET_ID_MAX_LEN", "DIALECTS", "Field", "JOB_RUNS", "Kind", "LAKE_TABLES", "LANDING_EVENTS",
    "QUARANTINE_EVENTS", "SENSOR_EVENT", "SENSOR_FEATURES", "SENSOR_NAMES", "SENSORS", "SQL_TABLES", "Sensor",
    "Table", "ddl", "json_schema", "qualified", "sql_type",
]
