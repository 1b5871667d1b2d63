"""The single source of truth for every record and table (see ``records``)."""

from schemas.core import DIALECTS, Field, Kind, Table, ddl, json_schema, qualified, sql_type
from schemas.records import (
    ANOMALY_ALERTS,
    ANOMALY_EVENTS,
    ANOMALY_FEEDBACK,
    ANOMALY_SCORES,
    ASSET_ID_MAX_LEN,
    CHALLENGER_EVENTS,
    CHALLENGER_SCORES,
    FEATURE_DRIFT,
    FEEDBACK_LABELS,
    JOB_RUNS,
    LAKE_TABLES,
    LANDING_EVENTS,
    MAINTENANCE_WINDOWS,
    PREDICTION_RUNS,
    QUARANTINE_EVENTS,
    SENSOR_EVENT,
    SENSOR_FEATURES,
    SENSOR_NAMES,
    SENSORS,
    SQL_TABLES,
    THRESHOLD_VERSIONS,
    Sensor,
)

__all__ = [
    "ANOMALY_ALERTS", "ANOMALY_EVENTS", "ANOMALY_FEEDBACK", "ANOMALY_SCORES", "FEEDBACK_LABELS",
    "MAINTENANCE_WINDOWS", "THRESHOLD_VERSIONS", "FEATURE_DRIFT", "PREDICTION_RUNS",
    "ASSET_ID_MAX_LEN", "CHALLENGER_EVENTS", "CHALLENGER_SCORES",
    "DIALECTS", "Field", "JOB_RUNS", "Kind", "LAKE_TABLES", "LANDING_EVENTS",
    "QUARANTINE_EVENTS", "SENSOR_EVENT", "SENSOR_FEATURES", "SENSOR_NAMES", "SENSORS", "SQL_TABLES", "Sensor",
    "Table", "ddl", "json_schema", "qualified", "sql_type",
]
