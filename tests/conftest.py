"""Shared fixtures: the real services (started once, stopped at the end if we started them),
one SparkSession, and per-test isolation by unique Kafka topics and HDFS roots."""

from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("SENSORWATCH_PROFILE", "local")

from sensorwatch import services  # noqa: E402
from sensorwatch.config import Settings, load_settings  # noqa: E402

from sensorwatch.sources.skab import default_data_dir  # noqa: E402

SKAB_DIR = str(default_data_dir())
# The DAG tests run in the Airflow environment (`make test` runs them after this suite).
collect_ignore = ["dags"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings("local", environ={})


@pytest.fixture(scope="session")
def live_services(base_settings: Settings):
    """Kafka, HDFS and PostgreSQL up for the whole session (reused if already running)."""
    already = services.status(base_settings)
    services.up(base_settings)
    yield base_settings
    started_here = [name for name, up in already.items() if not up]
    if started_here and not os.environ.get("SENSORWATCH_KEEP_SERVICES"):
        services.down(base_settings, started_here)


@pytest.fixture
def isolated(live_services: Settings) -> Settings:
    """Settings with a fresh topic and HDFS root: tests never see each other's data."""
    name = unique("t")
    return live_services.with_overrides(
        kafka={"topic": name, "partitions": 2},
        storage={"root": f"{live_services.storage.root}/tests/{name}"},
    )


@pytest.fixture(scope="session")
def spark(live_services: Settings):
    from sensorwatch.spark import get_spark

    session = get_spark(live_services, "sensorwatch-tests")
    yield session
    session.stop()


@pytest.fixture
def store_isolated(isolated: Settings):
    """``isolated`` plus its own SQL schema (dropped afterwards): tables never collide."""
    from sensorwatch.connectors.sql import SqlStore

    schema = unique("s").replace("-", "_")
    settings = isolated.with_overrides(sql={"schema": schema})
    store = SqlStore(settings)
    store.execute(f'CREATE SCHEMA "{schema}"')
    yield settings
    store.execute(f'DROP SCHEMA "{schema}" CASCADE')
