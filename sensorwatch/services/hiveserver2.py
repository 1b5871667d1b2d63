"""Historical SQL over the landing zone: Spark's Thrift Server (a HiveServer2-protocol
endpoint, from the PySpark distribution) on 127.0.0.1, the Impala / Hive role.

Started only on request (``sensorwatch services up --with hiveserver2``). Its metastore is
an embedded Derby database under ``var/hive`` (one process owns it: the server); the tables
are external over the Parquet datasets on HDFS (``schemas`` generates their DDL,
``sensorwatch.history`` executes it). Clients speak HiveServer2's Thrift protocol: impyla
(what Impala users use), beeline, any BI tool's Hive/Spark driver. Authentication is
HiveServer2's ``NONE`` (SASL PLAIN, any user): loopback only, development only.
"""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

from sensorwatch.config import Settings, endpoint_port
from sensorwatch.runtime.submit import spark_client_env
from sensorwatch.services.process import ServiceError, read_pid, start_background, stop_pid, wait_until

MAIN = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"


def _spark_submit() -> str:
    """spark-submit of the jobs environment (its bin/ must be on PATH for find-spark-home)."""
    path = Path(sys.executable).parent / "spark-submit"
    if not path.exists():
        found = shutil.which("spark-submit")
        if not found:
            raise ServiceError("spark-submit not found: the Thrift Server runs from PySpark's distribution (.venv)")
        path = Path(found)
    return str(path)


def command(settings: Settings) -> list[str]:
    base = settings.home / "hive"
    hdfs = f"hdfs://127.0.0.1:{endpoint_port(settings.storage.root)}"
    return [
        _spark_submit(), "--class", MAIN, "--name", "sensorwatch-thriftserver", "--master", "local[2]",
        "--driver-memory", "768m",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.catalogImplementation=hive",
        "--conf", f"spark.hadoop.fs.defaultFS={hdfs}",
        "--conf",
        f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={base / 'metastore_db'};create=true",
        "--conf", f"spark.sql.warehouse.dir={base / 'warehouse'}",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--hiveconf", f"hive.server2.thrift.port={settings.embedded.hiveserver2_port}",
        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
        "spark-internal",
    ]


def _listening(settings: Settings) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", settings.embedded.hiveserver2_port)) == 0


def _ready(settings: Settings) -> bool:
    if not _listening(settings):
        return False
    from sensorwatch.connectors.history import query

    return query(settings, "SELECT 1") == [(1,)]


def start(settings: Settings) -> str:
    base = settings.home / "hive"
    base.mkdir(parents=True, exist_ok=True)
    run, log = settings.home / "run", settings.home / "log"
    if read_pid(run / "hiveserver2.pid") is None:
        start_background(command(settings), run / "hiveserver2.pid", log / "hiveserver2.log",
                         env=spark_client_env(), cwd=base)
    wait_until(lambda: _ready(settings), f"the Spark Thrift Server on 127.0.0.1:{settings.embedded.hiveserver2_port}",
               180, log_file=log / "hiveserver2.log", pid_file=run / "hiveserver2.pid")
    return f"HiveServer2 protocol (Spark Thrift Server) at 127.0.0.1:{settings.embedded.hiveserver2_port}"


def stop(settings: Settings) -> bool:
    return stop_pid(settings.home / "run" / "hiveserver2.pid")


def is_up(settings: Settings) -> bool:
    try:
        return _ready(settings)
    except Exception:  # noqa: BLE001 - a probe: any failure means "not up"
        return False
