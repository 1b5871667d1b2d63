"""The embedded services answer over their own protocols; unreachable ones give clear errors."""

import subprocess
import sys

import pytest

from sensorwatch import services
from sensorwatch.config import ConfigError, load_settings
from sensorwatch.connectors.hdfs import webhdfs_client
from sensorwatch.connectors.sql import SqlUnavailable, connect, create_tables


def test_all_three_services_are_up(live_services):
    assert services.status(live_services) == {"kafka": True, "hdfs": True, "postgres": True}


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
    statements = create_tables(live_services)
    assert any("job_runs" in s for s in statements)
    with connect(live_services) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name='job_runs' "
                            "AND table_schema=%s", (live_services.sql.schema_,)).fetchone()[0] == 1


def test_unreachable_sql_store_is_retried_then_clear(live_services):
    broken = live_services.with_overrides(sql={"port": 1})
    with pytest.raises(SqlUnavailable, match=r"127\.0\.0\.1:1/sensorwatch unreachable after 3 attempt"):
        connect(broken, retries=2, backoff_s=0.01)


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


def test_noida_broker_keeps_messages_across_restarts(live_services, tmp_path):
    from sensorwatch.connectors.kafka import consumer_partitions, end_offsets, reader_consumer
    from sensorwatch.sources.produce import simulate_to_kafka

    noida = live_services.with_overrides(services={"broker": "noida", "home": str(tmp_path)},
                                         kafka={"bootstrap_servers": "127.0.0.1:19093", "topic": "persist"})
    services.up(noida, ["kafka"])
    try:
        simulate_to_kafka(noida, assets=2, seconds=300, anomalies_per_asset=0, ground_truth=tmp_path / "gt.json")
        services.down(noida, ["kafka"])
        assert not services.SERVICES["kafka"].is_up(noida)
        services.up(noida, ["kafka"])
        consumer = reader_consumer(noida.kafka.bootstrap_servers)
        try:
            ends = end_offsets(consumer, "persist", consumer_partitions(consumer, "persist"))
        finally:
            consumer.close()
        assert sum(ends.values()) == 600
    finally:
        services.down(noida, ["kafka"])


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
