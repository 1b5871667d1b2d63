"""Shared fixtures: the real services (started once, stopped at the end if we started them),
one SparkSession, and per-test isolation by unique Kafka topics and HDFS roots."""

from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("SENSORWATCH_PROFILE", "local")

from sensorwatch import services
from sensorwatch.config import Settings, load_settings
from sensorwatch.sources.skab import default_data_dir

SKAB_DIR = str(default_data_dir())
# The DAG tests run in the Airflow environment (`make test` runs them after this suite).
collect_ignore = ["dags"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings("local", environ={})


# CrateDB's `~` matches the whole name (no anchors): store_isolated (s_), scoring_setup.with_schema
# (p_), test_yarn (y_)
TEST_SCHEMAS = r"[spy]_[0-9a-f]{8}"
TEST_TOPICS = r"(t-|s-|y_|anomalies-[spy]_)[0-9a-f]{8}"  # isolated, alerts of a CLI test, test_yarn, alerts


def drop_test_schemas(settings: Settings, pattern: str = TEST_SCHEMAS) -> None:
    """Every SQL schema the tests made (by its name), with its tables and views."""
    from sensorwatch.connectors.sql import SqlStore

    found = SqlStore(settings).query("SELECT DISTINCT table_schema FROM information_schema.tables "
                                     "WHERE table_schema ~ %s", (pattern,))
    for (schema,) in found:
        SqlStore(settings.with_overrides(sql={"schema": schema})).drop_schema()


def remove_test_traces(settings: Settings) -> None:
    """What the suite leaves in the services the demo uses too: its SQL schemas, its
    Kafka topics, its HDFS roots (each test's own names)."""
    import re

    from confluent_kafka.admin import AdminClient

    from sensorwatch.connectors.hdfs import hdfs_path, webhdfs_client
    from sensorwatch.connectors.kafka import client_conf

    drop_test_schemas(settings)
    admin = AdminClient(client_conf(settings.kafka))
    topics = [t for t in admin.list_topics(timeout=10).topics if re.fullmatch(TEST_TOPICS, t)]
    for future in admin.delete_topics(topics, operation_timeout=30).values() if topics else ():
        future.result()
    hdfs = webhdfs_client(settings)
    for root in (f"{settings.storage.root}/tests", "/data/tests"):  # the local and the yarn-local tests' roots
        hdfs.delete(hdfs_path(root), recursive=True)


@pytest.fixture(scope="session")
def live_services(base_settings: Settings):
    """Kafka, HDFS and CrateDB up for the whole session (reused if already running); what
    the tests wrote there removed at the end."""
    already = services.status(base_settings)
    services.up(base_settings)
    yield base_settings
    remove_test_traces(base_settings)
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
    from sensorwatch.runtime.spark import get_spark

    session = get_spark(live_services, "sensorwatch-tests", model_runtime=True)  # as the predict job
    yield session
    session.stop()


@pytest.fixture
def store_isolated(isolated: Settings):
    """``isolated`` plus its own SQL schema (its tables and views dropped afterwards):
    tables never collide."""
    from sensorwatch.connectors.sql import SqlStore

    settings = isolated.with_overrides(sql={"schema": unique("s").replace("-", "_")})
    yield settings
    SqlStore(settings).drop_schema()


# This fixture's peak on disk, measured: 5.1 GB (the build environment's own files, the rest
# being hard links into uv's cache; the archive, 1.4 GB). A disk that cannot hold that (and
# YARN's unpacked copy) fails here, instead of filling up under the suite's NameNode.
PACKAGE_DISK_BYTES = 8 * 2**30


@pytest.fixture(scope="session")
def built_package(tmp_path_factory):
    """``sensorwatch package`` once per session (tests/test_package.py and test_yarn.py)."""
    import shutil

    from sensorwatch.runtime.package import build

    out = tmp_path_factory.mktemp("dist")
    free = shutil.disk_usage(out).free
    if free < PACKAGE_DISK_BYTES:
        pytest.fail(f"packaging needs {PACKAGE_DISK_BYTES / 2**30:.0f} GB of free disk; {free / 2**30:.1f} GB free")
    return build(out, log=lambda _: None)  # the CLI's default compression


HISTORY_MARK = "-- HiveServer2"


def doc_sql_blocks(store: str) -> list[str]:
    """The ```sql blocks of docs/bi.md for one store: ``history`` (those that start with
    ``-- HiveServer2``) or ``sql`` (the SQL store: every other block)."""
    import re

    from sensorwatch.config import REPO_ROOT

    blocks = re.findall(r"```sql\n(.*?)```", (REPO_ROOT / "docs" / "bi.md").read_text(), flags=re.S)
    return [b.strip().rstrip(";") for b in blocks if b.lstrip().startswith(HISTORY_MARK) == (store == "history")]


SERVICE_FIXTURES = {"live_services", "built_package"}


def pytest_collection_modifyitems(config, items):
    """``unit``: a test that needs no service (no fixture that starts them, not slow) runs
    in ``make unit`` without Kafka, HDFS, CrateDB or YARN."""
    for item in items:
        if not SERVICE_FIXTURES & set(item.fixturenames) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.unit)


def sasl_settings(settings):
    """``settings`` pointed at the embedded broker's SASL_SSL listener, as the embedded user."""
    from sensorwatch.services.kafka import MECHANISM, ca_file, sasl_password

    svc = settings.embedded
    return settings.with_overrides(kafka={
        "bootstrap_servers": f"127.0.0.1:{svc.kafka_sasl_ssl_port}", "security_protocol": "SASL_SSL",
        "sasl_mechanism": MECHANISM, "username": svc.kafka_sasl_user, "password": sasl_password(settings),
        "ssl_ca_location": str(ca_file(settings))})
