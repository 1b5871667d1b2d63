"""A real Apache Hadoop 2.7.3 NameNode + DataNode with WebHDFS, on 127.0.0.1.

Debian has no Hadoop and Maven Central is out of reach, but the ``pyspark==2.4.8`` sdist
on PyPI carries the full hadoop-hdfs jar and its dependencies. We take the 30 jars that
run NameNode + DataNode + WebHDFS on Java 17, plus Jersey 1 from Debian for WebHDFS, and
cache them in ``~/.cache/sensorwatch/hadoop-2.7.3`` (a second start is instant).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from sensorwatch.config import CACHE_ROOT, Settings, endpoint_port
from sensorwatch.services.process import ServiceError, read_pid, start_background, stop_pid, wait_until

SDIST = "pyspark==2.4.8"
JARS = (
    "hadoop-annotations-2.7.3", "hadoop-auth-2.7.3", "hadoop-common-2.7.3", "hadoop-hdfs-2.7.3",
    "guava-14.0.1", "protobuf-java-2.5.0", "commons-cli-1.2", "commons-codec-1.10",
    "commons-collections-3.2.2", "commons-configuration-1.6", "commons-io-2.4", "commons-lang-2.6",
    "commons-logging-1.1.3", "htrace-core-3.1.0-incubating", "jetty-6.1.26", "jetty-util-6.1.26",
    "javax.servlet-api-3.1.0", "log4j-1.2.17", "slf4j-api-1.7.16", "slf4j-log4j12-1.7.16",
    "xmlenc-0.52", "xercesImpl-2.9.1", "netty-all-4.1.47.Final", "jackson-core-asl-1.9.13",
    "jackson-mapper-asl-1.9.13", "jsr305-1.3.9", "httpclient-4.5.6", "httpcore-4.4.10",
    "jaxb-api-2.2.2", "activation-1.1.1",
)
DEBIAN_JARS = ("jersey1-core", "jersey1-server", "jersey1-servlet", "jsr311-api")  # libjersey1-servlet-java
JVM_FLAGS = (
    "-Xmx512m", "-Djava.net.preferIPv4Stack=true",
    "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
)
# Below this much free space on its volume the NameNode enters safe mode, and stays there until
# restarted (Hadoop's default value, set explicitly so that the error can name it).
RESERVED_BYTES = 100 * 2**20
MAIN = {
    "namenode": "org.apache.hadoop.hdfs.server.namenode.NameNode",
    "datanode": "org.apache.hadoop.hdfs.server.datanode.DataNode",
}
CACHE = CACHE_ROOT / "hadoop-2.7.3"


def ensure_jars() -> Path:
    """Extract the Hadoop jars from the pyspark 2.4.8 sdist once; return the lib dir."""
    lib = CACHE / "lib"
    if all((lib / f"{j}.jar").exists() for j in JARS):
        return lib
    lib.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # The old sdist's metadata step needs wheel/setuptools and no build isolation.
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-build-isolation",
               "--no-binary", ":all:", SDIST, "-d", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("pyspark-2.4.8.tar.gz"))
        if result.returncode != 0 or not sdists:
            raise ServiceError(f"could not download {SDIST} for the Hadoop jars:\n{result.stderr[-2000:]}")
        with tarfile.open(sdists[0]) as tar:
            for jar in JARS:
                member = tar.getmember(f"pyspark-2.4.8/deps/jars/{jar}.jar")
                with tar.extractfile(member) as src:
                    (lib / f"{jar}.jar").write_bytes(src.read())
    return lib


def _classpath(conf_dir: Path) -> str:
    lib = ensure_jars()
    debian = [Path("/usr/share/java") / f"{j}.jar" for j in DEBIAN_JARS]
    missing = [str(p) for p in debian if not p.exists()]
    if missing:
        raise ServiceError(f"WebHDFS needs Jersey 1 from Debian (apt-get install libjersey1-servlet-java): "
                           f"missing {', '.join(missing)}")
    return ":".join([str(conf_dir), *(str(lib / f"{j}.jar") for j in JARS), *map(str, debian)])


def _site_xml(props: dict[str, str]) -> str:
    body = "".join(f"<property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


def _write_conf(settings: Settings, base: Path) -> Path:
    svc = settings.services
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
    (conf / "log4j.properties").write_text(
        "log4j.rootLogger=WARN, console\nlog4j.appender.console=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
        "log4j.logger.org.apache.hadoop.hdfs.server.namenode.NameNode=INFO\n")
    # The hdfs jar lacks its webapps/ resources; HttpServer2 only needs them to exist.
    for app in ("hdfs", "datanode"):
        web = conf / "webapps" / app / "WEB-INF"
        web.mkdir(parents=True, exist_ok=True)
        (web / "web.xml").write_text('<?xml version="1.0"?>\n<web-app version="2.4"></web-app>\n')
    return conf


def _java(cp: str, role: str, *args: str) -> list[str]:
    return ["java", *JVM_FLAGS, f"-Dhadoop.log.dir={CACHE}", "-cp", cp, MAIN[role], *args]


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
    cp = _classpath(conf)
    run, log = settings.home / "run", settings.home / "log"
    if not (base / "name" / "current" / "VERSION").exists():
        result = subprocess.run(_java(cp, "namenode", "-format", "-nonInteractive", "-force"),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"namenode -format failed:\n{result.stdout[-1500:]}{result.stderr[-1500:]}")
    for role in ("namenode", "datanode"):
        if read_pid(run / f"hdfs-{role}.pid") is None:
            start_background(_java(cp, role), run / f"hdfs-{role}.pid", log / f"hdfs-{role}.log")
    wait_until(lambda: _ready(settings), f"HDFS at {settings.storage.root}", 90,
               log_file=log / "hdfs-namenode.log", pid_file=run / "hdfs-namenode.pid")
    return f"HDFS NameNode at hdfs://127.0.0.1:{endpoint_port(settings.storage.root)}, WebHDFS at {settings.storage.webhdfs_url}"


def stop(settings: Settings) -> bool:
    stopped = [stop_pid(settings.home / "run" / f"hdfs-{role}.pid") for role in ("datanode", "namenode")]
    return any(stopped)


def is_up(settings: Settings) -> bool:
    try:
        return _ready(settings)
    except Exception:  # noqa: BLE001
        return False
