"""A real Apache Hadoop 3.5.0 NameNode + DataNode with WebHDFS, on 127.0.0.1.

The jars come from Maven Central (``jvm/hadoop/pom.xml``, cached by ``sensorwatch.runtime.jvm``):
the release PySpark 4.2's own Hadoop client is built from, on Java 17. YARN's daemons of the
same release share that classpath.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

from sensorwatch.config import Settings, endpoint_port
from sensorwatch.runtime import jvm
from sensorwatch.services.process import ServiceError, read_pid, start_background, stop_pid, wait_until

JVM_FLAGS = ("-Xmx512m", "-Xms64m", "-Djava.net.preferIPv4Stack=true")
# Below this much free space on its volume the NameNode enters safe mode, and stays there until
# restarted (Hadoop's default value, set explicitly so that the error can name it).
RESERVED_BYTES = 100 * 2**20
MAIN = {
    "namenode": "org.apache.hadoop.hdfs.server.namenode.NameNode",
    "datanode": "org.apache.hadoop.hdfs.server.datanode.DataNode",
}


def _site_xml(props: dict[str, str]) -> str:
    body = "".join(f"<property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


def _write_conf(settings: Settings, base: Path) -> Path:
    svc = settings.embedded
    rpc = endpoint_port(settings.storage.root)
    http = endpoint_port(settings.storage.webhdfs_url)
    conf = base / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "core-site.xml").write_text(_site_xml({"fs.defaultFS": f"hdfs://127.0.0.1:{rpc}"}))
    (conf / "hdfs-site.xml").write_text(_site_xml({
        "dfs.namenode.name.dir": str(base / "name"),
        "dfs.datanode.data.dir": str(base / "data"),
        "dfs.replication": "1",
        "dfs.webhdfs.enabled": "true",
        "dfs.permissions.enabled": "false",
        "dfs.namenode.rpc-address": f"127.0.0.1:{rpc}",
        "dfs.namenode.http-address": f"127.0.0.1:{http}",
        "dfs.namenode.secondary.http-address": "127.0.0.1:0",
        "dfs.datanode.address": f"127.0.0.1:{svc.datanode_port}",
        "dfs.datanode.http.address": f"127.0.0.1:{svc.datanode_http_port}",
        "dfs.datanode.ipc.address": f"127.0.0.1:{svc.datanode_ipc_port}",
        "dfs.datanode.hostname": "127.0.0.1",
        "dfs.namenode.datanode.registration.ip-hostname-check": "false",
        "dfs.namenode.safemode.extension": "0",
        "dfs.namenode.resource.du.reserved": str(RESERVED_BYTES),
        "dfs.heartbeat.interval": "1",
    }))
    (conf / "log4j.properties").write_text(  # Hadoop 3 logs through reload4j (Log4j 1 API)
        "log4j.rootLogger=WARN, console\nlog4j.appender.console=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
        "log4j.logger.org.apache.hadoop.hdfs.server.namenode.NameNode=INFO\n")
    # The Maven jar of hadoop-hdfs lacks the webapps/ resources of the distribution's tarball;
    # HttpServer2 only needs them to exist (WebHDFS and /jmx work; the HTML UI is absent).
    for app in ("hdfs", "datanode"):
        web = conf / "webapps" / app / "WEB-INF"
        web.mkdir(parents=True, exist_ok=True)
        (web / "web.xml").write_text('<?xml version="1.0"?>\n<web-app version="2.4"></web-app>\n')
    return conf


def _java(settings: Settings, conf: Path, role: str, *args: str) -> list[str]:
    return ["java", *JVM_FLAGS, f"-Dhadoop.log.dir={settings.home / 'log'}", "-cp", jvm.classpath("hadoop", conf),
            MAIN[role], *args]


def _jmx(settings: Settings, query: str) -> dict:
    url = f"{settings.storage.webhdfs_url.rstrip('/')}/jmx?qry={query}"
    with urllib.request.urlopen(url, timeout=3) as resp:
        beans = json.load(resp)["beans"]
    return beans[0] if beans else {}


def _ready(settings: Settings) -> bool:
    """NameNode out of safe mode with a live DataNode: writes will succeed.

    Raises ServiceError when the NameNode went into safe mode for lack of disk space: it stays
    there (refusing every write) until it is restarted with enough space, so waiting is useless.
    """
    state = _jmx(settings, "Hadoop:service=NameNode,name=FSNamesystemState")
    info = _jmx(settings, "Hadoop:service=NameNode,name=NameNodeInfo")
    if "Resources are low" in info.get("Safemode", ""):
        free_mb = shutil.disk_usage(settings.home / "hdfs").free / 2**20
        raise ServiceError(
            f"the HDFS NameNode is in safe mode because its disk ran low (it needs "
            f"{RESERVED_BYTES // 2**20} MB free in {settings.home / 'hdfs'}; {free_mb:,.0f} MB free now). "
            "Free disk space, then restart it: sensorwatch services down hdfs && sensorwatch services up hdfs")
    return state.get("NumLiveDataNodes", 0) >= 1 and not info.get("Safemode")


def start(settings: Settings) -> str:
    base = settings.home / "hdfs"
    conf = _write_conf(settings, base)
    run, log = settings.home / "run", settings.home / "log"
    if not (base / "name" / "current" / "VERSION").exists():
        result = subprocess.run(_java(settings, conf, "namenode", "-format", "-nonInteractive", "-force"),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"namenode -format failed:\n{result.stdout[-1500:]}{result.stderr[-1500:]}")
    for role in ("namenode", "datanode"):
        if read_pid(run / f"hdfs-{role}.pid") is None:
            start_background(_java(settings, conf, role), run / f"hdfs-{role}.pid", log / f"hdfs-{role}.log")
    wait_until(lambda: _ready(settings), f"HDFS at {settings.storage.root}", 90,
               log_file=log / "hdfs-namenode.log", pid_file=run / "hdfs-namenode.pid")
    return (f"HDFS NameNode at hdfs://127.0.0.1:{endpoint_port(settings.storage.root)}, "
            f"WebHDFS at {settings.storage.webhdfs_url}")


def stop(settings: Settings) -> bool:
    stopped = [stop_pid(settings.home / "run" / f"hdfs-{role}.pid") for role in ("datanode", "namenode")]
    return any(stopped)


def is_up(settings: Settings) -> bool:
    try:
        return _ready(settings)
    except Exception:  # noqa: BLE001 - a probe: any failure means "not up"
        return False
