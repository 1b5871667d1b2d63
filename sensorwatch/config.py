"""Configuration: one YAML profile per environment in ``conf/``, validated on load.

* The profile is chosen by ``--profile`` or ``SENSORWATCH_PROFILE`` (default ``local``).
* Any key can be overridden from the environment: ``SENSORWATCH__KAFKA__TOPIC=x``
  overrides ``kafka.topic`` (values are parsed as YAML scalars, so numbers stay numbers).
* Secrets never live in files: ``sql.password`` comes only from ``SENSORWATCH_SQL_PASSWORD``,
  ``kafka.password`` only from ``SENSORWATCH_KAFKA_PASSWORD``.
* A wrong, unknown or missing key raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    model_validator,
)

from schemas.errors import UsageError

if TYPE_CHECKING:
    from models.spec import DetectorSpec
    from schemas.features import FeatureSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONF_DIR = REPO_ROOT / "conf"
# Downloads and builds kept between runs (Hadoop jars, the PySpark wheel); scripts/setup.sh
# builds the wheelhouse under the same folder.
CACHE_ROOT = Path(os.environ.get("SENSORWATCH_CACHE", Path.home() / ".cache" / "sensorwatch"))
ENV_PREFIX = "SENSORWATCH__"
SECRET_ENV = {"sql.password": "SENSORWATCH_SQL_PASSWORD", "kafka.password": "SENSORWATCH_KAFKA_PASSWORD"}


def in_checkout(path: str | Path) -> Path:
    """A configured path: as given when absolute, else relative to the repo root."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


Port = Annotated[int, Field(ge=1, le=65535)]
# Kafka's own rule for topic names.
Topic = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]


class ConfigError(UsageError):
    """A configuration problem, with the offending key in the message."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ServicesConf(_Strict):
    """Embedded local services (profile ``local`` only). Ports come from the endpoints."""

    home: str
    # The Kafka broker's other listeners (the plaintext one is kafka.bootstrap_servers): SASL_SSL
    # with SCRAM for clients that authenticate, and the KRaft controller's own.
    kafka_sasl_ssl_port: Port
    kafka_controller_port: Port
    kafka_sasl_user: str  # the SCRAM user created with the broker's storage (password: var/kafka)
    datanode_port: Port
    datanode_http_port: Port
    datanode_ipc_port: Port
    # YARN (optional: services up --with yarn). The RM's scheduler, tracker and admin RPC
    # ports are the two below and the one above its client port; the NM's localizer and web
    # ports the two above its own.
    yarn_resourcemanager_port: Port = 18032
    yarn_web_port: Port = 18088
    yarn_nodemanager_port: Port = 18040
    yarn_memory_mb: PositiveInt = 8192  # what the NodeManager offers to containers
    cratedb_transport_port: Port = 14300  # node-to-node
    cratedb_heap: str = Field(default="1g", pattern=r"^[0-9]+[mg]$")  # CRATE_HEAP_SIZE
    hiveserver2_port: Port = 19110  # Spark Thrift Server (services up --with hiveserver2)
    superset_port: Port = 19120  # Apache Superset (sensorwatch dashboard up)


class KafkaConf(_Strict):
    """The cluster and topic, and how clients authenticate (the same settings drive the
    confluent-kafka producer/admin and Spark's Kafka source: connectors/kafka.py)."""

    bootstrap_servers: str
    topic: Topic
    partitions: PositiveInt
    security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None  # environment only (SENSORWATCH_KAFKA_PASSWORD)
    # PEM file of the CA that signed the brokers' certificates (None: the system's trust store).
    ssl_ca_location: str | None = None

    @model_validator(mode="after")
    def _brokers_have_ports(self) -> KafkaConf:
        for broker in self.bootstrap_servers.split(","):
            try:
                endpoint_port(broker.strip())
            except ConfigError as exc:  # pydantic names the key for a ValueError only
                raise ValueError(f"bootstrap_servers: {exc}") from None
        return self

    @model_validator(mode="after")
    def _sasl_needs_a_user(self) -> KafkaConf:
        if self.security_protocol == "SASL_SSL" and not self.username:
            raise ValueError("security_protocol SASL_SSL needs kafka.username")
        return self


class StorageConf(_Strict):
    root: str
    webhdfs_url: str
    user: str

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    @property
    def landing(self) -> str:
        return self.path("landing", "events")

    @property
    def quarantine(self) -> str:
        return self.path("quarantine", "events")


class SqlConf(_Strict):
    host: str
    port: Port  # the PostgreSQL protocol (queries, small writes)
    http_port: Port  # CrateDB's HTTP endpoint: the Spark bulk writes, the Admin UI, sqlalchemy-cratedb
    database: str
    schema_: str = Field(alias="schema")  # tables live in this schema (CrateDB: "doc")
    user: str
    password: SecretStr | None = None  # environment only
    shards: PositiveInt  # CrateDB: shards per table (per partition for partitioned tables)
    replicas: str  # CrateDB: number_of_replicas, e.g. "0-1" or "1"
    retries: NonNegativeInt  # attempts after the first when the store is unreachable
    retry_backoff_s: PositiveFloat  # first wait; doubles each attempt
    bulk_batch_rows: PositiveInt  # rows per batch (one round trip) in the Spark bulk upserts
    # The large tables' day partitions (schemas.RETAINED) older than this many days are
    # dropped after each features run and by `sensorwatch retention`; None keeps every day.
    retention_days: PositiveInt | None = None


class SparkConf(_Strict):
    master: str
    conf: dict[str, str]
    # The packed job environment (``sensorwatch package``) that spark-submit ships to the
    # cluster with --archives, e.g. hdfs:///apps/sensorwatch/sensorwatch-env.tar.gz. None:
    # jobs run with this checkout's environment (local mode).
    archive: str | None = None
    # The cluster's client configuration (core-site.xml, yarn-site.xml) for spark-submit
    # --master yarn: HADOOP_CONF_DIR of the submitting process (None: the environment's own).
    hadoop_conf_dir: str | None = None


class IngestConf(_Strict):
    trigger: Literal["availableNow", "processingTime"]
    processing_time: str
    max_offsets_per_trigger: PositiveInt
    starting_offsets: Literal["earliest", "latest"]
    fail_on_data_loss: bool
    watermark_delay: str
    min_event_time: datetime
    max_future_skew_s: PositiveInt
    # A sensor event is ~300 bytes; anything much larger is quarantined (its extras would
    # bloat every landing file and query).
    max_payload_bytes: PositiveInt = 65_536


class FeaturesConf(_Strict):
    interval_s: PositiveInt  # resample interval; must divide an hour
    rolling_intervals: PositiveInt  # K: rolling statistics over the last K intervals

    @model_validator(mode="after")
    def _valid_spec(self) -> FeaturesConf:
        self.spec()  # FeatureSpec holds the rules (interval divides an hour, K >= 2)
        return self

    def spec(self) -> FeatureSpec:
        from schemas.features import FeatureSpec

        return FeatureSpec(interval_s=self.interval_s, rolling_intervals=self.rolling_intervals)


class ModelConf(_Strict):
    """The detector (``detector``: ``models.spec.DetectorSpec`` settings, checked by it) and
    where models are tracked and registered."""

    name: str  # registered model name
    # An MLflow server URI (http://..., databricks, sqlite:///...), or a local directory
    # (relative to the repository root) that holds a SQLite store and the artifacts.
    tracking_uri: str
    experiment: str
    train_hours: PositiveInt  # default training range: the newest hours of features
    holdout_fraction: float = Field(gt=0, lt=1)  # last part of each asset's range: the promotion gate's data
    promotion_tolerance: float = Field(ge=0)  # the champion is replaced unless the new error is > (1 + tol) x its
    detector: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid_spec(self) -> ModelConf:
        self.spec()
        return self

    def spec(self) -> DetectorSpec:
        from models.spec import DetectorSpec

        return DetectorSpec.from_dict(self.detector)

    @property
    def local_dir(self) -> Path | None:
        """The local store's directory, when ``tracking_uri`` names one."""
        if "://" in self.tracking_uri or self.tracking_uri.startswith("databricks"):
            return None
        return in_checkout(self.tracking_uri)

    @property
    def mlflow_uri(self) -> str:
        local = self.local_dir
        return f"sqlite:///{local / 'mlflow.db'}" if local else self.tracking_uri


class PredictConf(_Strict):
    """The prediction job and its monitoring."""

    interval_s: PositiveInt  # a run scores the feature intervals of the last interval_s seconds
    # A run at T scores the interval that ended lateness_s before T: by then the ingest stream
    # (one trigger, ingest.processing_time, plus its batch) has landed that interval's events.
    # 0 scores up to T itself, whatever has landed by then (the newest intervals partly empty).
    lateness_s: NonNegativeInt = 0
    # rows per Arrow batch into the scoring UDF (spark.sql.execution.arrow.maxRecordsPerBatch)
    arrow_batch_rows: PositiveInt
    stale_after_h: PositiveFloat  # warn when the champion, or the end of its training data, is older than this
    psi_warn: PositiveFloat  # warn when a feature's PSI against the training data passes this
    # What runs the LSTM's forward pass in the workers: "onnx" (ONNX Runtime; no TensorFlow in
    # the workers) or "tensorflow" (the previous path; where a GPU is). bench/predict.py compares them.
    scorer: Literal["onnx", "tensorflow"] = "onnx"
    # Where each node's Python workers keep the forward pass's memo (models/memo.py): the
    # windows the previous cycle forecast, used again where their inputs are the same bits.
    # Relative to the repo root; a node-local path on a cluster; empty: every window forecast.
    memo_dir: str = ""

    @property
    def memo_path(self) -> str | None:
        """``memo_dir`` as an absolute path (None: off)."""
        return str(in_checkout(self.memo_dir)) if self.memo_dir else None


class AlertsConf(_Strict):
    """Alerts on Kafka (``sensorwatch.operations.alerts``): the topic (compacted: it holds each event's
    latest state) and the severity levels (peak score / threshold) whose crossing re-alerts."""

    topic: Topic
    partitions: PositiveInt = 1
    severity_levels: list[PositiveFloat] = [2.0, 4.0]

    @model_validator(mode="after")
    def _levels_ascend(self) -> AlertsConf:
        if self.severity_levels != sorted(set(self.severity_levels)):
            raise ValueError(f"alerts.severity_levels must ascend without repeats, got {self.severity_levels}")
        return self


class Limit(_Strict):
    """A sensor's operating limits (either may be absent)."""

    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Limit:
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"a limit's low ({self.low}) must be below its high ({self.high})")
        return self


class ForecastConf(_Strict):
    """Sensor forecasts (``models.forecasting``): the long horizon's method and history, the
    span of matured forecasts their intervals are recalibrated from, and the operating
    limits whose predicted crossing is in ``v_asset_health`` and alerted."""

    long_method: Literal["seasonal_naive", "auto_ets", "auto_theta"] = "auto_theta"  # bench/forecast.py chose it
    history_h: PositiveInt = 168  # hours of hourly means the long forecast is fitted on
    calibration_h: PositiveInt = 24  # hours of matured short forecasts their intervals are recalibrated from
    # (hourly; the long forecasts' from the history_h hours they are fitted on)
    limits: dict[str, Limit] = {}  # sensor -> its limits on every asset
    asset_limits: dict[str, dict[str, Limit]] = {}  # asset -> sensor -> limits (instead of the sensor's)
    alert_probability: float = Field(default=0.5, gt=0, lt=1)  # a predicted_limit alert from this probability

    @model_validator(mode="after")
    def _known_sensors(self) -> ForecastConf:
        from schemas import SENSOR_NAMES

        named = set(self.limits) | {s for per_asset in self.asset_limits.values() for s in per_asset}
        if unknown := sorted(named - set(SENSOR_NAMES)):
            raise ValueError(f"forecast limits name unknown sensor(s) {unknown}; the sensors: {list(SENSOR_NAMES)}")
        return self

    def limit_table(self) -> dict[str, dict[str, tuple[float | None, float | None]]]:
        """asset ("*": every asset) -> sensor -> (low, high): what the forecasts are checked against."""
        table = {"*": {s: (lim.low, lim.high) for s, lim in self.limits.items()}}
        table.update({a: {s: (lim.low, lim.high) for s, lim in per.items()} for a, per in self.asset_limits.items()})
        return table


class HistoryConf(_Strict):
    """The HiveServer2-protocol endpoint over the landing zone (Impala, Hive, or Spark's Thrift
    Server): where its external tables live and whether ingest registers new partitions."""

    host: str
    port: Port
    database: str = Field(default="sensorwatch", pattern=r"^[A-Za-z0-9_]{1,128}$")  # pasted into HiveQL
    engine: Literal["hive", "impala"] = "hive"  # MSCK REPAIR TABLE vs ALTER TABLE ... RECOVER PARTITIONS
    auth_mechanism: Literal["NOSASL", "PLAIN", "GSSAPI", "LDAP"] = "PLAIN"
    user: str = "sensorwatch"
    timeout_s: PositiveInt = 30
    # After each ingest batch, make its partitions visible to the endpoint's queries.
    register_partitions: bool = False


class Settings(_Strict):
    profile: str
    services: ServicesConf | None = None
    kafka: KafkaConf
    storage: StorageConf
    sql: SqlConf
    spark: SparkConf
    ingest: IngestConf
    features: FeaturesConf
    model: ModelConf
    predict: PredictConf
    alerts: AlertsConf | None = None  # None: the prediction job publishes no alerts
    history: HistoryConf | None = None
    forecast: ForecastConf = ForecastConf()

    @property
    def embedded(self) -> ServicesConf:
        """The embedded services' section (local profiles); a clear error where there is none."""
        if self.services is None:
            raise ConfigError(f"profile '{self.profile}' has no 'services' section: nothing runs locally")
        return self.services

    @property
    def historical(self) -> HistoryConf:
        """The ``history`` section (HiveServer2 endpoint); a clear error where there is none."""
        if self.history is None:
            raise ConfigError(f"profile '{self.profile}' has no 'history' section (the HiveServer2 endpoint)")
        return self.history

    @property
    def home(self) -> Path:
        """Runtime directory of the embedded services (local profile)."""
        return in_checkout(self.embedded.home)

    def with_overrides(self, **sections: dict[str, Any]) -> Settings:
        """A copy with some keys replaced, e.g. ``with_overrides(kafka={"topic": "t"})``."""
        data = self.model_dump(by_alias=True)
        for section, values in sections.items():
            data[section] = {**(data.get(section) or {}), **values}
        return _validate(data, source="overrides")


def endpoint_port(url_or_hostport: str) -> int:
    """Port of ``hdfs://h:p/x``, ``http://h:p`` or ``h:p`` (first of a comma list)."""
    first = url_or_hostport.split(",")[0]
    parsed = urlparse(first if "://" in first else f"tcp://{first}")
    try:
        port = parsed.port
    except ValueError:  # not a number, or beyond 65535
        raise ConfigError(f"endpoint '{url_or_hostport}' has no valid port") from None
    if port is None:
        raise ConfigError(f"endpoint '{url_or_hostport}' has no port")
    return port


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if ".".join(path) in SECRET_ENV:
            raise ConfigError(f"'{'.'.join(path)}' is a secret: set {SECRET_ENV['.'.join(path)]} instead")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw != "" else ""
    return tree


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: dict[str, Any], source: str) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "missing":
                problems.append(f"missing key '{key}'")
            elif err["type"] == "extra_forbidden":
                problems.append(f"unknown key '{key}'")
            else:
                problems.append(f"key '{key}': {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"invalid configuration ({source}): " + "; ".join(problems)) from None


def profile_path(
    profile: str | None = None,
    conf_dir: Path | str | None = None,
    environ: dict[str, str] | None = None,
) -> Path:
    """The YAML file of a profile: ``--profile``, else $SENSORWATCH_PROFILE, else ``local``;
    in ``conf_dir``, else $SENSORWATCH_CONF_DIR, else the repository's ``conf/``."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    profile = profile or env.get("SENSORWATCH_PROFILE") or "local"
    conf_dir = Path(conf_dir or env.get("SENSORWATCH_CONF_DIR") or DEFAULT_CONF_DIR)
    path = conf_dir / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in conf_dir.glob("*.yaml"))
        raise ConfigError(f"unknown profile '{profile}': no {path} (profiles: {', '.join(known) or 'none'})")
    return path


def _read_profile(path: Path) -> dict[str, Any]:
    """One profile file's keys (``extends`` included), checked: a mapping, no secrets."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections")
    for dotted in SECRET_ENV:
        section, key = dotted.split(".")
        if key in (data.get(section) or {}):
            raise ConfigError(f"'{dotted}' is a secret and must not be in {path}: set {SECRET_ENV[dotted]}")
    return data


def _profile_chain(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(file, its keys) for the profile and those it ``extends`` (a profile name in the same
    folder), the farthest ancestor first; each file read once."""
    chain = [(path, _read_profile(path))]
    while parent := chain[-1][1].pop("extends", None):
        parent_path = path.parent / f"{parent}.yaml"
        seen = [p for p, _ in chain]
        if not parent_path.is_file() or parent_path in seen:
            raise ConfigError(f"{seen[-1]} extends '{parent}': "
                              f"{'a cycle' if parent_path in seen else f'no {parent_path}'}")
        chain.append((parent_path, _read_profile(parent_path)))
    return chain[::-1]


def profile_files(path: Path) -> list[Path]:
    """The profile's YAML and those it ``extends``, the farthest ancestor first. A profile
    that extends another states only what differs: e.g. ``yarn-local`` is the ``yarn``
    profile with the embedded services' endpoints."""
    return [p for p, _ in _profile_chain(path)]


def load_settings(
    profile: str | None = None,
    conf_dir: Path | str | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Load, merge environment overrides into, and validate one profile."""
    environ = dict(os.environ if environ is None else environ)
    path = profile_path(profile, conf_dir, environ)
    profile = path.stem
    data: dict[str, Any] = {}
    for _, keys in _profile_chain(path):  # the profile it extends first, then its own keys
        data = _merge(data, keys)
    data = _merge(data, _env_overrides(environ))
    data["profile"] = profile
    for dotted, env_name in SECRET_ENV.items():
        if environ.get(env_name):
            section, key = dotted.split(".")
            data.setdefault(section, {})[key] = environ[env_name]
    return _validate(data, source=str(path))
