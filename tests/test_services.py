"""The embedded services answer over their own protocols; unreachable ones give clear errors."""

import subprocess
import sys

import pytest

from sensorwatch import services
from sensorwatch.config import ConfigError, load_settings
from sensorwatch.connectors.hdfs import webhdfs_client
from sensorwatch.connectors.sql import SqlStore, SqlUnavailable, connect


def test_all_three_services_are_up(live_services):
    states = services.status(live_services)
    assert {k: states[k] for k in ("kafka", "hdfs", "cratedb")} == {"kafka": True, "hdfs": True, "cratedb": True}
    # YARN and the Thrift Server start only when asked (--with): off is not DOWN
    assert set(states) - {"kafka", "hdfs", "cratedb"} == set(services.OPTIONAL)
    assert all(states[name] in (None, True) for name in services.OPTIONAL)


def test_up_is_idempotent_and_fast_when_running(live_services):
    import time

    started = time.monotonic()
    services.up(live_services)
    assert time.monotonic() - started < 15


def test_webhdfs_round_trip(isolated):
    client = webhdfs_client(isolated)
    path = "/sensorwatch/tests/roundtrip.txt"
    client.write(path, data=b"hello hdfs", overwrite=True)
    with client.read(path) as reader:
        assert reader.read() == b"hello hdfs"
    assert client.status(path)["length"] == 10
    client.delete(path)
    assert client.status(path, strict=False) is None


def test_sql_tables_are_created_from_schemas(live_services):
    statements = SqlStore(live_services).create_tables()
    assert any("job_runs" in s.text() for s in statements)
    with connect(live_services) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name='job_runs' "
                            "AND table_schema=%s", (live_services.sql.schema_,)).fetchone()[0] == 1


def test_result_tables_are_refreshed_by_their_writers_not_each_second(store_isolated):
    """The scores table is declared without CrateDB's periodic refresh (its writers refresh
    at their end). A table created before that gets the setting from the next
    create_tables, once; with it, a row is searchable after a refresh and not before."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from schemas import ANOMALY_SCORES
    from sensorwatch.connectors.sql import statements as q

    store = SqlStore(store_isolated)
    assert ANOMALY_SCORES.refresh_interval_ms == 0
    store.execute(q.create_table(store.target, replace(ANOMALY_SCORES, refresh_interval_ms=None)))  # as before
    stored = lambda: [r[0] for r in store.query(q.refresh_interval(store.target, ANOMALY_SCORES))]
    assert stored() == [1000]  # CrateDB's default: each second
    altered = lambda: [s.text() for s in store.create_tables((ANOMALY_SCORES,))
                       if s.text().startswith("ALTER TABLE")]
    assert altered() == [f"ALTER TABLE {store.name(ANOMALY_SCORES)} SET (refresh_interval = 0)"]
    assert stored() == [0]
    assert altered() == []  # once: no cluster-state change each run

    day = datetime(2026, 1, 5, tzinfo=UTC)
    store.execute(q.upsert_values(store.target, ANOMALY_SCORES), [
        {"asset_id": "p1", "interval_start": day, "threshold": 1.0, "exceeds": False, "is_anomaly": False,
         "model_name": "m", "model_version": 1, "run_id": "r", "source_partition": "date=2026-01-05/hour=0",
         "day": day}.get(c) for c in ANOMALY_SCORES.column_names])
    count = f"SELECT count(*) FROM {store.name(ANOMALY_SCORES)}"
    import time

    time.sleep(1.5)  # past the default interval: only no periodic refresh keeps the row unsearchable
    assert store.query(count)[0][0] == 0
    store.refresh(ANOMALY_SCORES)
    assert store.query(count)[0][0] == 1


def test_unreachable_sql_store_is_retried_then_clear(live_services):
    broken = live_services.with_overrides(sql={"port": 1, "retry_backoff_s": 0.01})
    with pytest.raises(SqlUnavailable, match=r"127\.0\.0\.1:1/doc unreachable after 3 attempt"):
        connect(broken, retries=2)


def test_cratedb_is_the_real_server_run_unprivileged_with_passwords_on(live_services):
    """The store is CrateDB's own JVM (main class io.crate.bootstrap.CrateDB), run as an
    unprivileged user, answering SQL on the configured port; a user other than the local
    superuser needs its password."""
    import os

    import psycopg

    from sensorwatch.services import cratedb
    from sensorwatch.services.process import read_pid

    pid = read_pid(live_services.home / "run" / "cratedb.pid")
    assert pid is not None
    java = [p for p in os.listdir("/proc") if p.isdigit() and os.getpgid(int(p)) == pid
            and b"io.crate.bootstrap.CrateDB" in open(f"/proc/{p}/cmdline", "rb").read()]
    assert len(java) == 1
    assert os.stat(f"/proc/{java[0]}").st_uid != 0  # never as root
    with connect(live_services) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
    assert version.startswith(f"CrateDB {cratedb.VERSION}")
    store = SqlStore(live_services)
    store.execute('CREATE USER "sw_probe" WITH (password = \'probe\')')
    try:
        conf = live_services.sql
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(host=conf.host, port=conf.port, dbname=conf.database, user="sw_probe")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=conf.host, port=conf.port, dbname=conf.database, user="sw_probe", password="no")
        with psycopg.connect(host=conf.host, port=conf.port, dbname=conf.database, user="sw_probe",
                             password="probe") as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == "sw_probe"
    finally:
        store.execute('DROP USER IF EXISTS "sw_probe"')


def test_a_missing_or_wrong_cratedb_tarball_is_one_clear_line(monkeypatch, tmp_path):
    from sensorwatch.services import cratedb
    from sensorwatch.services.process import ServiceError

    monkeypatch.setenv(cratedb.TARBALL_ENV, str(tmp_path / "nowhere.tar.gz"))
    with pytest.raises(ServiceError, match=r"release tarball is not at .*nowhere.tar.gz: download crate-6\.4\.3"):
        cratedb.tarball()
    bogus = tmp_path / "crate-6.4.3.tar.gz"
    bogus.write_bytes(b"not crate")
    with pytest.raises(ServiceError, match="is not CrateDB 6.4.3's"):
        cratedb.verified(bogus)


def test_cluster_profile_has_no_embedded_services():
    with pytest.raises(ConfigError, match="no embedded services"):
        services.up(load_settings("yarn", environ={}))


def test_cli_status_and_unreachable_broker_exit_codes(live_services, tmp_path):
    cli = [sys.executable, "-m", "sensorwatch.cli"]
    ok = subprocess.run([*cli, "services", "status"], capture_output=True, text=True)
    assert ok.returncode == 0 and "kafka     up" in ok.stdout
    env = {"SENSORWATCH__KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1", "PATH": "/usr/bin:/bin"}
    bad = subprocess.run([*cli, "produce", "simulate", "--assets", "1", "--seconds", "5", "--anomalies", "0",
                          "--ground-truth", str(tmp_path / "gt.json")], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "KafkaUnavailable" in bad.stderr and "127.0.0.1:1" in bad.stderr


def test_kafka_keeps_messages_across_down_and_up(isolated):
    from confluent_kafka import Consumer, TopicPartition

    from sensorwatch.connectors.kafka import client_conf
    from sensorwatch.sources.produce import simulate_to_kafka

    produced = simulate_to_kafka(isolated, assets=2, seconds=300, anomalies_per_asset=0)["messages"]
    services.down(isolated, ["kafka"])
    assert not services.status(isolated)["kafka"]
    services.up(isolated, ["kafka"])
    consumer = Consumer({**client_conf(isolated.kafka), "group.id": "persist-check"})
    try:
        ends = [consumer.get_watermark_offsets(TopicPartition(isolated.kafka.topic, p), timeout=10)[1]
                for p in range(isolated.kafka.partitions)]
    finally:
        consumer.close()
    assert produced == 600 and sum(ends) == 600


def test_sasl_ssl_listener_refuses_clients_without_the_right_credentials(live_services):
    from sensorwatch.connectors.kafka import broker_reachable
    from tests.conftest import sasl_settings

    sasl = sasl_settings(live_services)
    assert sasl.kafka.security_protocol == "SASL_SSL" and broker_reachable(sasl.kafka)
    wrong_password = sasl.with_overrides(kafka={"password": "not-" + sasl.kafka.password.get_secret_value()})
    unknown_user = sasl.with_overrides(kafka={"username": "intruder"})
    no_credentials = sasl.with_overrides(kafka={"security_protocol": "PLAINTEXT"})  # same port, no SASL, no TLS
    for refused in (wrong_password, unknown_user, no_credentials):
        assert not broker_reachable(refused.kafka, timeout_s=4), refused.kafka


def test_sasl_ssl_without_a_password_is_a_clear_error(live_services):
    from sensorwatch.connectors.kafka import KafkaUnavailable, client_conf
    from tests.conftest import sasl_settings

    sasl = sasl_settings(live_services)
    keyless = load_settings("local", environ={}).with_overrides(kafka={
        k: v for k, v in sasl.kafka.model_dump().items() if k != "password"})
    with pytest.raises(KafkaUnavailable, match="set SENSORWATCH_KAFKA_PASSWORD for user 'sensorwatch'"):
        client_conf(keyless.kafka)


def test_a_namenode_short_of_disk_is_a_clear_error_not_a_timeout(live_services, tmp_path, monkeypatch):
    # A real second NameNode, told that it needs more free space than the disk has: it enters
    # safe mode for low resources at start, as it would when the disk fills up (which a test
    # cannot do to a shared disk). `up` must say so at once, not wait 90 s and time out.
    import shutil
    import time

    from sensorwatch.services import ServiceError, hdfs

    short = live_services.with_overrides(
        services={"home": str(tmp_path), "datanode_port": 19966, "datanode_http_port": 19964,
                  "datanode_ipc_port": 19967},
        storage={"root": "hdfs://127.0.0.1:19100/sensorwatch", "webhdfs_url": "http://127.0.0.1:19871"})
    monkeypatch.setattr(hdfs, "RESERVED_BYTES", shutil.disk_usage(tmp_path).free + 2**40)
    started = time.monotonic()
    try:
        with pytest.raises(ServiceError, match="safe mode because its disk ran low") as error:
            services.up(short, ["hdfs"])
        assert "MB free now" in str(error.value) and "sensorwatch services up hdfs" in str(error.value)
        assert time.monotonic() - started < 60
        assert services.status(short)["hdfs"] is False
    finally:
        services.down(short, ["hdfs"])


def test_cratedb_state_is_kept_where_its_unprivileged_user_can_reach_it(base_settings, tmp_path):
    """A checkout under a folder `nobody` cannot enter (a clone in root's home, a private
    temporary folder) keeps CrateDB's data in a folder of its own under /var/tmp, linked
    from var/cratedb; a reachable checkout keeps it in var/cratedb."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from sensorwatch.services import cratedb

    user = cratedb._runtime_user()
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    settings = base_settings.with_overrides(services={"home": str(private / "var")})
    state = cratedb._state_dir(settings)
    try:
        if user is None:  # not root: CrateDB runs as ourselves, anything we reach will do
            assert state == (private / "var" / "cratedb").resolve()
            return
        assert not cratedb.reachable(private / "var", user)
        assert str(state).startswith("/var/tmp/sensorwatch-") and (private / "var" / "cratedb").is_symlink()
        assert cratedb.reachable(state, user) and cratedb._state_dir(settings) == state  # the same one again
        with tempfile.TemporaryDirectory(dir="/var/tmp") as outside:  # a path `nobody` can enter
            os.chmod(outside, 0o755)
            reachable = base_settings.with_overrides(services={"home": f"{outside}/var"})
            here = cratedb._state_dir(reachable)
            assert here == Path(outside, "var", "cratedb") and not here.is_symlink()
    finally:
        if user is not None and str(state).startswith("/var/tmp/"):
            shutil.rmtree(state.parent, ignore_errors=True)
