"""The embedded local services (profile ``local``): Kafka broker, HDFS, PostgreSQL.

``up`` is idempotent (a running service is reused), every start waits until the server
really answers, and ``status`` probes each one over its own protocol.
"""

from __future__ import annotations

from types import ModuleType

from sensorwatch.config import ConfigError, Settings
from sensorwatch.services import hdfs, kafka, postgres
from sensorwatch.services.process import ServiceError

SERVICES: dict[str, ModuleType] = {"kafka": kafka, "hdfs": hdfs, "postgres": postgres}

__all__ = ["SERVICES", "ServiceError", "down", "status", "up"]


def _require_local(settings: Settings) -> None:
    if settings.services is None:
        raise ConfigError(f"profile '{settings.profile}' runs against a cluster: no embedded services to manage")


def up(settings: Settings, names: list[str] | None = None) -> dict[str, str]:
    _require_local(settings)
    return {name: SERVICES[name].start(settings) for name in (names or list(SERVICES))}


def down(settings: Settings, names: list[str] | None = None) -> dict[str, bool]:
    _require_local(settings)
    return {name: SERVICES[name].stop(settings) for name in (names or list(SERVICES))}


def status(settings: Settings) -> dict[str, bool]:
    return {name: module.is_up(settings) for name, module in SERVICES.items()}
