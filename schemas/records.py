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

from dataclasses import dataclass

from features.definitions import ROW_FLAGS, sensor_columns
from schemas.core import Field, Kind, Table


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

SENSOR_FEATURES = Table(
    name="sensor_features",
    doc="Per asset and fixed interval: sensor aggregates, rolling statistics and gap flags "
        "(columns declared in features/definitions.py).",
    fields=(
        Field("asset_id", Kind.STRING, nullable=False),
        Field("interval_start", Kind.TIMESTAMP, nullable=False, doc="start of the fixed interval (UTC)"),
        *(Field(f.name, Kind(f.kind), nullable=False, doc=f.doc) for f in ROW_FLAGS),
        *(Field(name, Kind(st.kind), doc=st.doc) for name, st in sensor_columns(SENSOR_NAMES)),
    ),
    # CrateDB: one partition per day, rows of an asset on one shard; a partition column
    # must be part of CrateDB's primary key, so the key is (asset_id, interval_start, day).
    partition_by=(Field("day", Kind.TIMESTAMP, nullable=False, doc="UTC day of interval_start"),),
    primary_key=("asset_id", "interval_start", "day"),
    clustered_by="asset_id",
)

# Tables that live in the SQL store (CrateDB / PostgreSQL); later issues add theirs here.
SQL_TABLES: tuple[Table, ...] = (JOB_RUNS, SENSOR_FEATURES)
# Datasets that live as Parquet on HDFS (Hive/Impala external tables).
LAKE_TABLES: tuple[Table, ...] = (LANDING_EVENTS, QUARANTINE_EVENTS)
