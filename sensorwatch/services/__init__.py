"""The embedded local services (profile ``local``): Kafka broker, HDFS, CrateDB, and on
request (``--with``) YARN, a HiveServer2 endpoint and Apache Superset.

``up`` is idempotent (a running service is reused), every start waits until the server
really answers, and ``status`` probes each one over its own protocol.
"""

from __future__ import annotations

from types import ModuleType

from sensorwatch.config import ConfigError, Settings
from sensorwatch.services import cratedb, hdfs, hiveserver2, kafka, superset, yarn
from sensorwatch.services.process import ServiceError

# In start order. The optional ones cost memory the plain demo does not need: started only
# when named (``--with yarn`` or ``--only yarn``); ``down`` stops whatever runs.
SERVICES: dict[str, ModuleType] = {"kafka": kafka, "hdfs": hdfs, "cratedb": cratedb, "yarn": yarn,
                                   "hiveserver2": hiveserver2, "superset": superset}
OPTIONAL = ("yarn", "hiveserver2", "superset")
DEPENDS = {"yarn": ("hdfs",), "hiveserver2": ("hdfs",), "superset": ("cratedb",)}

__all__ = ["SERVICES", "ServiceError", "down", "status", "up"]


def _require_local(settings: Settings) -> None:
    if settings.services is None:
        raise ConfigError(f"profile '{settings.profile}' runs against a cluster: no embedded services to manage")


def up(settings: Settings, names: list[str] | None = None, with_: list[str] | None = None) -> dict[str, str]:
    """Start ``names`` (default: every service that is not optional) plus ``with_``, and
    what they depend on (YARN's jobs read and write HDFS)."""
    _require_local(settings)
    wanted = set(names or [n for n in SERVICES if n not in OPTIONAL]) | set(with_ or [])
    wanted |= {d for n in list(wanted) for d in DEPENDS.get(n, ())}
    return {name: SERVICES[name].start(settings) for name in SERVICES if name in wanted}


def down(settings: Settings, names: list[str] | None = None) -> dict[str, bool]:
    _require_local(settings)
    return {name: SERVICES[name].stop(settings) for name in (names or list(SERVICES))}


def status(settings: Settings) -> dict[str, bool | None]:
    """Per service: up, down, or None for an optional service that is not running."""
    states = {name: module.is_up(settings) for name, module in SERVICES.items()}
    return {name: (None if name in OPTIONAL and not ok else ok) for name, ok in states.items()}


def cluster_environ(settings: Settings) -> dict[str, str]:
    """What the ``yarn-local`` profile (the ``yarn`` profile on these embedded services) takes
    from the environment: values that depend on this checkout's path, and the Kafka secret.
    ``sensorwatch services env`` prints them as shell exports."""
    _require_local(settings)
    return {"SENSORWATCH__KAFKA__SSL_CA_LOCATION": str(kafka.ca_file(settings)),
            "SENSORWATCH_KAFKA_PASSWORD": kafka.sasl_password(settings),
            "SENSORWATCH__MODEL__TRACKING_URI": str(settings.home / "mlflow-yarn")}
