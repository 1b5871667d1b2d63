"""Every record and table of the project, declared once.

The sensor event on the wire (Kafka) is JSON, one object per reading of one asset:

    {"asset_id": "pump-007", "event_time": 1763719200000, "seq": 42,
     "accelerometer1_rms": 0.027, ..., "volume_flow_rate_rms": 32.0}

Wire rules (what the ingest validator enforces, derived from ``SENSOR_EVENT``):
* non-nullable fields are required; nullable fields may be absent or null;
* TIMESTAMP travels as integer epoch milliseconds (UTC), BIGINT as a JSON integer,
  DOUBLE as a finite JSON number, STRING as a JSON string;
* at least one sensor reading must be present;
* unknown fields are kept, as text, in the landing column ``extras`` (schema drift is
  visible, never silently dropped, and never breaks the typed columns).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from schemas.core import Field, Kind, Table
from schemas.features import ROW_FLAGS, sensor_columns


@dataclass(frozen=True)
class Sensor:
    name: str  # column name everywhere in the project
    skab_column: str  # column name in SKAB CSV files
    unit: str


SENSORS: tuple[Sensor, ...] = (
    Sensor("accelerometer1_rms", "Accelerometer1RMS", "g"),
    Sensor("accelerometer2_rms", "Accelerometer2RMS", "g"),
    Sensor("current", "Current", "A"),
    Sensor("pressure", "Pressure", "bar"),
    Sensor("temperature", "Temperature", "degC"),
    Sensor("thermocouple", "Thermocouple", "degC"),
    Sensor("voltage", "Voltage", "V"),
    Sensor("volume_flow_rate_rms", "Volume Flow RateRMS", "l/min"),
)
SENSOR_NAMES: tuple[str, ...] = tuple(s.name for s in SENSORS)
ASSET_ID_MAX_LEN = 128

SENSOR_EVENT = Table(
    name="sensor_event",
    doc="One reading of all sensors of one asset, as produced to Kafka (JSON).",
    fields=(
        Field("asset_id", Kind.STRING, nullable=False, doc="asset (pump) identifier, 1-128 chars"),
        Field("event_time", Kind.TIMESTAMP, nullable=False, doc="measurement time; epoch ms on the wire"),
        Field("seq", Kind.BIGINT, doc="producer sequence number per asset"),
        *(Field(s.name, Kind.DOUBLE, doc=f"{s.skab_column} [{s.unit}]") for s in SENSORS),
    ),
)

KAFKA_LINEAGE: tuple[Field, ...] = (
    Field("kafka_topic", Kind.STRING, nullable=False),
    Field("kafka_partition", Kind.INT, nullable=False),
    Field("kafka_offset", Kind.BIGINT, nullable=False),
    Field("kafka_timestamp", Kind.TIMESTAMP),
    Field("ingest_time", Kind.TIMESTAMP, nullable=False, doc="when the ingest batch processed the event"),
)
HOURLY_PARTITIONS: tuple[Field, ...] = (
    Field("date", Kind.STRING, nullable=False, doc="yyyy-MM-dd (UTC)"),
    Field("hour", Kind.INT, nullable=False, doc="0-23 (UTC)"),
)

LANDING_EVENTS = Table(
    name="landing_events",
    doc="Valid sensor events as Parquet on HDFS, partitioned by event date/hour (UTC).",
    fields=(
        *SENSOR_EVENT.fields,
        Field("extras", Kind.STRING_MAP, doc="unknown wire fields (schema drift), raw JSON text"),
        *KAFKA_LINEAGE,
    ),
    partition_by=HOURLY_PARTITIONS,
)

QUARANTINE_EVENTS = Table(
    name="quarantine_events",
    doc="Events that failed validation, with the raw payload and every reason; partitioned by ingest date/hour.",
    fields=(
        Field("reason", Kind.STRING, nullable=False, doc="'; '-separated validation failures"),
        Field("asset_id", Kind.STRING, doc="when it could be read, for triage"),
        Field("key", Kind.BINARY),
        Field("payload", Kind.BINARY, doc="the Kafka message value, byte for byte"),
        *KAFKA_LINEAGE,
    ),
    partition_by=HOURLY_PARTITIONS,
)

JOB_RUNS = Table(
    name="job_runs",
    doc="One row per job run: the start of monitoring.",
    fields=(
        Field("run_id", Kind.STRING, nullable=False),
        Field("job", Kind.STRING, nullable=False),
        Field("started_at", Kind.TIMESTAMP, nullable=False),
        Field("finished_at", Kind.TIMESTAMP),
        Field("status", Kind.STRING, nullable=False, doc="running | succeeded | failed | noop"),
        Field("range_start", Kind.TIMESTAMP),
        Field("range_end", Kind.TIMESTAMP),
        Field("rows_in", Kind.BIGINT),
        Field("rows_out", Kind.BIGINT),
        Field("rows_rejected", Kind.BIGINT),
        Field("late_rows", Kind.BIGINT),
        Field("duration_s", Kind.DOUBLE),
        Field("error", Kind.STRING),
        Field("watermark", Kind.TIMESTAMP, doc="incremental runs: the latest ingest_time consumed"),
        Field("details", Kind.STRING, doc="JSON: job-specific counts (e.g. unknown fields seen)"),
    ),
    primary_key=("run_id",),
    clustered_by="run_id",
)

_DAY = Field("day", Kind.TIMESTAMP, nullable=False, doc="UTC day of the row's time (CrateDB partition)")

SENSOR_FEATURES = Table(
    name="sensor_features",
    doc="Per asset and fixed interval: sensor aggregates, rolling statistics and gap flags "
        "(columns declared in schemas/features.py).",
    fields=(
        Field("asset_id", Kind.STRING, nullable=False),
        Field("interval_start", Kind.TIMESTAMP, nullable=False, doc="start of the fixed interval (UTC)"),
        *(Field(f.name, Kind(f.kind), nullable=False, doc=f.doc) for f in ROW_FLAGS),
        # Read by asset and time (the key), never looked up by value: not indexed, which
        # halves CrateDB's work per 87-column row (bench/features_run.py measures both).
        *(Field(name, Kind(st.kind), doc=st.doc, indexed=False) for name, st in sensor_columns(SENSOR_NAMES)),
    ),
    # CrateDB: one partition per day, rows of an asset on one shard; a partition column
    # must be part of CrateDB's primary key, so the key is (asset_id, interval_start, day).
    partition_by=(_DAY,),
    primary_key=("asset_id", "interval_start", "day"),
    clustered_by="asset_id",
)

MODEL_LINEAGE: tuple[Field, ...] = (
    Field("model_name", Kind.STRING, nullable=False, doc="registered model (MLflow)"),
    Field("model_version", Kind.INT, nullable=False, doc="registered version that scored"),
    Field("run_id", Kind.STRING, nullable=False,
          doc="the prediction run that last changed the row (job_runs.run_id); a replay writing the same values "
              "keeps it"),
)

ANOMALY_SCORES = Table(
    name="anomaly_scores",
    doc="Per asset and feature interval: the detector's score, threshold and flags, the sensors "
        "behind the score, and lineage (model version, run, landing partition).",
    # Every column indexed: with the values not indexed (as sensor_features') CrateDB wrote these
    # rows slower, not faster. No periodic refresh: each writer refreshes at its end (bulk_upsert);
    # refreshing each second while a cycle's 180k rows arrive cost CrateDB twice the CPU
    # (bench/features_run.py --only-result-writers).
    fields=(
        Field("asset_id", Kind.STRING, nullable=False),
        Field("interval_start", Kind.TIMESTAMP, nullable=False, doc="the scored feature interval (UTC)"),
        Field("score", Kind.DOUBLE, doc="RMS forecast error over sensors and the smoothing window; null: no forecast"),
        Field("threshold", Kind.DOUBLE, nullable=False, doc="the asset's calibrated threshold"),
        Field("exceeds", Kind.BOOLEAN, nullable=False, doc="score > threshold"),
        Field("is_anomaly", Kind.BOOLEAN, nullable=False,
              doc="the exceedance has lasted min_duration intervals up to this one (causal)"),
        Field("top_sensors", Kind.STRING_ARRAY, doc="sensors with the largest share of the score, largest first"),
        Field("top_contributions", Kind.DOUBLE_ARRAY, doc="their shares of the score (0-1), same order"),
        Field("instrument_check", Kind.STRING,
              doc="the instrument condition the interval is in: frozen | spike | rate | dropout | drift; null: none"),
        Field("instrument_sensor", Kind.STRING, doc="the sensor the instrument check flags"),
        Field("instrument_since", Kind.TIMESTAMP, doc="where the condition began (at most the model's lookback back)"),
        *MODEL_LINEAGE,
        Field("source_partition", Kind.STRING, nullable=False,
              doc="landing-zone partition of the interval's events, 'date=yyyy-MM-dd/hour=H'"),
        Field("threshold_version", Kind.INT,
              doc="0: the model's own calibration; else the threshold_versions version applied"),
    ),
    partition_by=(_DAY,),
    primary_key=("asset_id", "interval_start", "day"),
    clustered_by="asset_id",
    refresh_interval_ms=0,
)

ANOMALY_EVENTS = Table(
    name="anomaly_events",
    doc="Consecutive anomalous intervals of an asset merged into one event; updated while it grows.",
    fields=(
        Field("asset_id", Kind.STRING, nullable=False),
        Field("event_start", Kind.TIMESTAMP, nullable=False, doc="onset: the first interval above the threshold"),
        Field("event_end", Kind.TIMESTAMP, nullable=False, doc="end of the last interval above it (exclusive)"),
        Field("confirmed_at", Kind.TIMESTAMP, nullable=False, doc="the first interval flagged is_anomaly"),
        Field("intervals", Kind.BIGINT, nullable=False),
        Field("duration_s", Kind.DOUBLE, nullable=False),
        Field("is_open", Kind.BOOLEAN, nullable=False, doc="still above the threshold at the newest scored interval"),
        Field("peak_score", Kind.DOUBLE, nullable=False),
        Field("peak_at", Kind.TIMESTAMP, nullable=False),
        Field("threshold", Kind.DOUBLE, nullable=False),
        Field("sensors", Kind.STRING_ARRAY, doc="sensors behind the event, by their summed share of its scores"),
        Field("sensor_shares", Kind.DOUBLE_ARRAY, doc="their shares (0-1), same order"),
        Field("kind", Kind.STRING, doc="process (the model's anomaly) | instrument (a sensor's fault: for a "
              "technician); null in rows written before kinds: process"),
        Field("instrument_check", Kind.STRING, doc="kind instrument: frozen | spike | rate | dropout | drift, or "
              "deviation (the model's event carried by one sensor that no check names)"),
        *MODEL_LINEAGE,
    ),
    partition_by=(_DAY,),
    primary_key=("asset_id", "event_start", "day"),
    clustered_by="asset_id",
)


def _challenger(table: Table, name: str, what: str) -> Table:
    """A champion table's twin for challenger versions: the same columns, the model version
    in the key (several challengers over time, each beside the champion)."""
    key = (*table.primary_key[:-1], "model_version", table.primary_key[-1])  # CrateDB: the partition column last
    return replace(table, name=name, doc=f"{what} of the challenger version(s), scored in the same runs as the "
                   f"champion's {table.name} (same columns; keyed by model version as well).", primary_key=key)


CHALLENGER_SCORES = _challenger(ANOMALY_SCORES, "challenger_scores", "Scores")
CHALLENGER_EVENTS = _challenger(ANOMALY_EVENTS, "challenger_events", "Anomaly events")

ANOMALY_ALERTS = Table(
    name="anomaly_alerts",
    doc="Alerts: the message last published to Kafka for each anomaly event (the topic's value, keyed by "
        "event_id); a new one when the event opens, crosses a severity level, or closes.",
    fields=(
        Field("event_id", Kind.STRING, nullable=False, doc="the Kafka key: asset_id|event_start (ISO 8601, UTC)"),
        Field("asset_id", Kind.STRING, nullable=False),
        Field("event_start", Kind.TIMESTAMP, nullable=False),
        Field("status", Kind.STRING, nullable=False, doc="open | closed"),
        Field("severity", Kind.DOUBLE, nullable=False, doc="peak score / threshold"),
        Field("severity_level", Kind.INT, nullable=False, doc="how many of alerts.severity_levels it reached"),
        Field("event_end", Kind.TIMESTAMP, nullable=False, doc="as of the alert"),
        Field("confirmed_at", Kind.TIMESTAMP, nullable=False),
        Field("peak_score", Kind.DOUBLE, nullable=False),
        Field("peak_at", Kind.TIMESTAMP, nullable=False),
        Field("threshold", Kind.DOUBLE, nullable=False),
        Field("sensors", Kind.STRING_ARRAY, doc="sensors behind the event, by share"),
        Field("sensor_shares", Kind.DOUBLE_ARRAY),
        Field("kind", Kind.STRING, doc="process | instrument (as the event's)"),
        Field("instrument_check", Kind.STRING, doc="kind instrument: the check"),
        Field("model_name", Kind.STRING, nullable=False),
        Field("model_version", Kind.INT, nullable=False),
        Field("published_at", Kind.TIMESTAMP, nullable=False, doc="when the broker acknowledged it"),
    ),
    partition_by=(_DAY,),
    primary_key=("asset_id", "event_start", "day"),
    clustered_by="asset_id",
)

FEEDBACK_LABELS = ("confirmed", "false_alarm", "maintenance", "unsure")

ANOMALY_FEEDBACK = Table(
    name="anomaly_feedback",
    doc="Operators' labels of anomaly events (sensorwatch label, or a BI tool as the BI login, which may "
        "INSERT here only); the newest label of an event is the one that counts.",
    fields=(
        Field("event_id", Kind.STRING, nullable=False, doc="asset_id|event_start, as the alert's key"),
        Field("asset_id", Kind.STRING, nullable=False),
        Field("event_start", Kind.TIMESTAMP, nullable=False),
        Field("label", Kind.STRING, nullable=False, doc="confirmed | false_alarm | maintenance | unsure"),
        Field("note", Kind.STRING),
        Field("author", Kind.STRING, nullable=False),
        Field("labelled_at", Kind.TIMESTAMP, nullable=False),
    ),
    primary_key=("event_id", "labelled_at"),
    clustered_by="event_id",
)

MAINTENANCE_WINDOWS = Table(
    name="maintenance_windows",
    doc="Planned work per asset: events overlapping a window are scored and stored but not alerted.",
    fields=(
        Field("asset_id", Kind.STRING, nullable=False),
        Field("window_start", Kind.TIMESTAMP, nullable=False),
        Field("window_end", Kind.TIMESTAMP, nullable=False, doc="exclusive"),
        Field("note", Kind.STRING),
        Field("author", Kind.STRING, nullable=False),
        Field("created_at", Kind.TIMESTAMP, nullable=False),
    ),
    primary_key=("asset_id", "window_start"),
    clustered_by="asset_id",
)

PROPOSED, ACTIVE, RETIRED = THRESHOLD_STATUSES = ("proposed", "active", "retired")  # a threshold version's life

THRESHOLD_VERSIONS = Table(
    name="threshold_versions",
    doc="Per-asset thresholds recalibrated from operators' labels (sensorwatch thresholds): a version is "
        "proposed, then applied (active: prediction uses it instead of the model's calibration), then retired.",
    fields=(
        Field("model_name", Kind.STRING, nullable=False),
        Field("model_version", Kind.INT, nullable=False),
        Field("version", Kind.INT, nullable=False, doc="1, 2, ... per model version"),
        Field("asset_id", Kind.STRING, nullable=False),
        Field("threshold", Kind.DOUBLE, nullable=False),
        Field("previous", Kind.DOUBLE, nullable=False, doc="the threshold it replaces"),
        Field("status", Kind.STRING, nullable=False, doc="proposed | active | retired"),
        Field("budget", Kind.DOUBLE, nullable=False, doc="the false-alarm share it was chosen for"),
        Field("basis", Kind.STRING, doc="what the labelled history says under it (before -> after)"),
        Field("created_at", Kind.TIMESTAMP, nullable=False),
    ),
    primary_key=("model_name", "model_version", "version", "asset_id"),
    clustered_by="asset_id",
)

PREDICTION_RUNS = Table(
    name="prediction_runs",
    doc="Monitoring, one row per prediction run: volumes, timings, model staleness, score distribution, drift.",
    fields=(
        Field("run_id", Kind.STRING, nullable=False),
        Field("started_at", Kind.TIMESTAMP, nullable=False),
        Field("interval_start", Kind.TIMESTAMP, nullable=False, doc="scored range start"),
        Field("interval_end", Kind.TIMESTAMP, nullable=False, doc="scored range end (exclusive)"),
        Field("model_name", Kind.STRING, nullable=False),
        Field("model_version", Kind.INT, nullable=False),
        Field("assets", Kind.INT, nullable=False),
        Field("rows_scored", Kind.BIGINT, nullable=False),
        Field("anomalies", Kind.BIGINT, nullable=False, doc="rows flagged is_anomaly"),
        Field("open_events", Kind.INT, nullable=False),
        Field("duration_s", Kind.DOUBLE, nullable=False),
        Field("read_s", Kind.DOUBLE), Field("features_s", Kind.DOUBLE),
        Field("scoring_s", Kind.DOUBLE), Field("write_s", Kind.DOUBLE),
        Field("forecast_s", Kind.DOUBLE, doc="the short forecasts: computed and written"),
        Field("score_p50", Kind.DOUBLE), Field("score_p95", Kind.DOUBLE),
        Field("score_p99", Kind.DOUBLE), Field("score_max", Kind.DOUBLE),
        Field("model_age_h", Kind.DOUBLE, doc="hours since the scoring version was registered"),
        Field("data_since_training_h", Kind.DOUBLE, doc="hours from the end of its training data to interval_end"),
        Field("max_psi", Kind.DOUBLE, doc="largest feature PSI against the training data"),
        Field("challenger_version", Kind.INT, doc="the challenger scored in the same run, if any"),
        Field("challenger_s", Kind.DOUBLE, doc="seconds the challenger's scoring and writes took"),
        Field("drifted_features", Kind.STRING_ARRAY, doc="features whose PSI passed monitoring.psi_warn"),
        Field("warnings", Kind.STRING_ARRAY, doc="stale model, drift"),
    ),
    primary_key=("run_id",),
    clustered_by="run_id",
)

FEATURE_DRIFT = Table(
    name="feature_drift",
    doc="Monitoring, per prediction run and model input: PSI of the scored values against the training data.",
    fields=(
        Field("run_id", Kind.STRING, nullable=False),
        Field("feature", Kind.STRING, nullable=False),
        Field("interval_end", Kind.TIMESTAMP, nullable=False),
        Field("model_version", Kind.INT, nullable=False),
        Field("psi", Kind.DOUBLE),
        Field("mean", Kind.DOUBLE, doc="mean of the scored values"),
        Field("drifted", Kind.BOOLEAN, nullable=False),
    ),
    primary_key=("run_id", "feature"),
    clustered_by="run_id",
)

# The large tables: their day partitions older than sql.retention_days are dropped.
FORECAST_HORIZONS = ("short", "long")

# One forecast series: an asset's sensor at one horizon (the key's head of the forecast tables).
_SERIES: tuple[Field, ...] = (
    Field("asset_id", Kind.STRING, nullable=False),
    Field("sensor", Kind.STRING, nullable=False),
    Field("horizon", Kind.STRING, nullable=False, doc="short | long"),
)

SENSOR_FORECASTS = Table(
    name="sensor_forecasts",
    doc="Per asset and sensor: where it is heading. short: the next minutes' means, issued by every prediction "
        "cycle; long: the next 24 hourly means, issued hourly (sensorwatch forecast); each with 80 % and 95 % "
        "prediction intervals and, where the sensor has operating limits, the probability of being beyond one.",
    fields=(
        *_SERIES,
        Field("issued_at", Kind.TIMESTAMP, nullable=False,
              doc="the forecast's origin: the data before it is what it knows (UTC)"),
        Field("target_start", Kind.TIMESTAMP, nullable=False, doc="the start of the forecast period (UTC)"),
        Field("step_s", Kind.INT, nullable=False, doc="the period's length: the forecast is its mean"),
        Field("steps_ahead", Kind.INT, nullable=False,
              doc="1 = the period that starts at issued_at; 0: a period that has passed, with its actual mean "
                  "(what the forecasts of it are compared with; issued_at: its end, when it was known)"),
        Field("forecast", Kind.DOUBLE),
        Field("actual", Kind.DOUBLE, doc="steps_ahead 0: the period's observed mean"),
        Field("lo80", Kind.DOUBLE), Field("hi80", Kind.DOUBLE),
        Field("lo95", Kind.DOUBLE), Field("hi95", Kind.DOUBLE),
        Field("scale80", Kind.DOUBLE, doc="the factor the 80 % interval's half-widths were recalibrated by at issue "
                                          "(forecast_calibration; 1: as trained or fitted)"),
        Field("scale95", Kind.DOUBLE, doc="the same for the 95 % interval"),
        Field("limit_low", Kind.DOUBLE, doc="the sensor's operating limits (forecast.limits), null: none"),
        Field("limit_high", Kind.DOUBLE),
        Field("p_beyond_limit", Kind.DOUBLE,
              doc="the probability that the period's mean is beyond a limit (from the intervals); null: no limits"),
        Field("method", Kind.STRING, nullable=False, doc="the forecasting method (bench/forecast.py chose it)"),
        *MODEL_LINEAGE,
    ),
    partition_by=(_DAY,),
    primary_key=("asset_id", "sensor", "horizon", "issued_at", "target_start", "day"),
    clustered_by="asset_id",
    refresh_interval_ms=0,  # as anomaly_scores': the writers refresh at their end
)

FORECAST_CALIBRATION = Table(
    name="forecast_calibration",
    doc="Per asset, sensor and horizon, hourly (sensorwatch forecast): the factors the forecasts' interval "
        "half-widths are recalibrated by, so that 80 % and 95 % of the matured forecasts of the last "
        "forecast.calibration_h hours (short) or forecast.history_h hours (long) would have covered their "
        "actuals (models.forecasting.calibrated_scale). "
        "The long forecasts issued at calibrated_at use it; the short ones issued from an hour after it on.",
    fields=(
        *_SERIES,
        Field("calibrated_at", Kind.TIMESTAMP, nullable=False,
              doc="the hour it was computed for: from forecasts issued before it whose periods had ended by it"),
        Field("matured", Kind.INT, nullable=False, doc="the matured forecast periods it was computed from"),
        Field("scale80", Kind.DOUBLE, nullable=False), Field("scale95", Kind.DOUBLE, nullable=False),
        Field("run_id", Kind.STRING, nullable=False, doc="the forecast run that wrote it (job_runs.run_id)"),
    ),
    partition_by=(_DAY,),
    primary_key=("asset_id", "sensor", "horizon", "calibrated_at", "day"),
    clustered_by="asset_id",
)

LIMIT_ALERTS = Table(
    name="limit_alerts",
    doc="predicted_limit alerts: the message last published to Kafka for each asset and sensor whose forecast "
        "may pass an operating limit (keyed asset_id|predicted_limit|sensor); a new one when it becomes likely "
        "(forecast.alert_probability) and when it no longer is.",
    fields=(
        Field("alert_id", Kind.STRING, nullable=False, doc="the Kafka key: asset_id|predicted_limit|sensor"),
        Field("kind", Kind.STRING, nullable=False, doc="predicted_limit"),
        Field("asset_id", Kind.STRING, nullable=False),
        Field("sensor", Kind.STRING, nullable=False),
        Field("status", Kind.STRING, nullable=False, doc="predicted | cleared"),
        Field("limit_at", Kind.TIMESTAMP, doc="the earliest period whose 95 % interval crosses a limit"),
        Field("probability", Kind.DOUBLE, doc="the highest probability of being beyond a limit over the horizon"),
        Field("limit_low", Kind.DOUBLE), Field("limit_high", Kind.DOUBLE),
        Field("issued_at", Kind.TIMESTAMP, nullable=False, doc="the forecast's issue time"),
        Field("published_at", Kind.TIMESTAMP, nullable=False, doc="when the broker acknowledged it"),
    ),
    primary_key=("asset_id", "sensor"),
    clustered_by="asset_id",
)

RETAINED: tuple[Table, ...] = (SENSOR_FEATURES, ANOMALY_SCORES, CHALLENGER_SCORES, SENSOR_FORECASTS,
                               FORECAST_CALIBRATION)
# Tables that live in the SQL store (CrateDB).
SQL_TABLES: tuple[Table, ...] = (JOB_RUNS, SENSOR_FEATURES, ANOMALY_SCORES, ANOMALY_EVENTS, CHALLENGER_SCORES,
                                 CHALLENGER_EVENTS, ANOMALY_ALERTS, ANOMALY_FEEDBACK, MAINTENANCE_WINDOWS,
                                 THRESHOLD_VERSIONS, PREDICTION_RUNS, FEATURE_DRIFT, SENSOR_FORECASTS,
                                 FORECAST_CALIBRATION, LIMIT_ALERTS)
# Datasets that live as Parquet on HDFS (Hive/Impala external tables).
LAKE_TABLES: tuple[Table, ...] = (LANDING_EVENTS, QUARANTINE_EVENTS)
