"""A real Apache Hadoop 3.5.0 YARN: ResourceManager + NodeManager on 127.0.0.1.

Same release and classpath as the embedded HDFS (``jvm/hadoop/pom.xml``). Started only on
request (``sensorwatch services up --with yarn``): it costs memory the plain demo does not
need. Sized for a small machine the way a real small cluster is configured:

* the NodeManager offers ``services.yarn_memory_mb`` (default 8 GB) and 8 vcores (the
  capacity scheduler's default calculator schedules by memory only; vcores are a label);
* containers from 256 MB to 4 GB; the capacity scheduler lets application masters use half
  the queue (``maximum-am-resource-percent`` 0.5: the default 0.1 of 8 GB would admit no
  Spark driver in cluster mode);
* physical-memory enforcement on (a container over its size is killed, as on a cluster),
  virtual-memory check off (the JVM's and Python's address space is not their use);
* container logs stay in the NodeManager's log dir (``var/yarn/logs/<app>/<container>``)
  and finished containers' directories are kept 10 minutes, for a failed job's evidence;
* the cache of unpacked archives is trimmed to about 4 GB (one environment version), and
  kept across restarts (NodeManager recovery): `services down`/`up` does not unpack it again.

``hadoop_conf_dir(settings)`` (``var/yarn/conf``) is the client configuration a
``spark-submit --master yarn`` needs (``HADOOP_CONF_DIR``): core-site (the HDFS) and
yarn-site (this ResourceManager).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

from sensorwatch.config import Settings, endpoint_port
from sensorwatch.runtime import jvm
from sensorwatch.services.hdfs import _site_xml
from sensorwatch.services.process import read_pid, start_background, stop_pid, wait_until

JVM_FLAGS = ("-Xmx384m", "-Xms64m", "-Djava.net.preferIPv4Stack=true")
MAIN = {
    "resourcemanager": "org.apache.hadoop.yarn.server.resourcemanager.ResourceManager",
    "nodemanager": "org.apache.hadoop.yarn.server.nodemanager.NodeManager",
}
ROLES = tuple(MAIN)


def hadoop_conf_dir(settings: Settings) -> Path:
    return settings.home / "yarn" / "conf"


def _ports(settings: Settings) -> dict[str, int]:
    """The RM's four RPC endpoints and the NM's two sit next to their declared ports."""
    rm, nm = settings.embedded.yarn_resourcemanager_port, settings.embedded.yarn_nodemanager_port
    return {"rm": rm, "rm_scheduler": rm - 2, "rm_tracker": rm - 1, "rm_admin": rm + 1,
            "rm_web": settings.embedded.yarn_web_port, "nm": nm, "nm_localizer": nm + 1, "nm_web": nm + 2}


def web_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{_ports(settings)['rm_web']}"


def _write_conf(settings: Settings) -> Path:
    base = settings.home / "yarn"
    conf = hadoop_conf_dir(settings)
    conf.mkdir(parents=True, exist_ok=True)
    p = _ports(settings)
    memory = settings.embedded.yarn_memory_mb
    (conf / "core-site.xml").write_text(_site_xml({
        "fs.defaultFS": f"hdfs://127.0.0.1:{endpoint_port(settings.storage.root)}"}))
    (conf / "yarn-site.xml").write_text(_site_xml({
        "yarn.resourcemanager.hostname": "127.0.0.1",
        "yarn.resourcemanager.address": f"127.0.0.1:{p['rm']}",
        "yarn.resourcemanager.scheduler.address": f"127.0.0.1:{p['rm_scheduler']}",
        "yarn.resourcemanager.resource-tracker.address": f"127.0.0.1:{p['rm_tracker']}",
        "yarn.resourcemanager.admin.address": f"127.0.0.1:{p['rm_admin']}",
        "yarn.resourcemanager.webapp.address": f"127.0.0.1:{p['rm_web']}",
        "yarn.resourcemanager.recovery.enabled": "false",
        "yarn.nodemanager.hostname": "127.0.0.1",
        "yarn.nodemanager.address": f"127.0.0.1:{p['nm']}",
        "yarn.nodemanager.localizer.address": f"127.0.0.1:{p['nm_localizer']}",
        "yarn.nodemanager.webapp.address": f"127.0.0.1:{p['nm_web']}",
        "yarn.nodemanager.resource.memory-mb": str(memory),
        "yarn.nodemanager.resource.cpu-vcores": "8",
        "yarn.scheduler.minimum-allocation-mb": "256",
        "yarn.scheduler.maximum-allocation-mb": str(min(4096, memory)),
        "yarn.nodemanager.pmem-check-enabled": "true",
        "yarn.nodemanager.vmem-check-enabled": "false",
        "yarn.nodemanager.local-dirs": str(base / "local"),
        # NodeManager recovery (as on a real cluster): a restarted node keeps what it has
        # localized, so the 1.4 GB job environment is not unpacked again after
        # `services down/up` (measured: 3-5 min before a first container starts).
        "yarn.nodemanager.recovery.enabled": "true",
        "yarn.nodemanager.recovery.dir": str(base / "nm-recovery"),
        "yarn.nodemanager.log-dirs": str(base / "logs"),
        "yarn.nodemanager.delete.debug-delay-sec": "600",
        # Each new package version is unpacked anew (3.3 GB); keep the node's cache of
        # public resources near one version instead of Hadoop's default 10 GB.
        "yarn.nodemanager.localizer.cache.target-size-mb": "4096",
        "yarn.nodemanager.localizer.cache.cleanup.interval-ms": "120000",
        # a nearly full development disk must not mark the only node unhealthy
        "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage": "99.5",
        "yarn.nodemanager.env-whitelist": "JAVA_HOME,HADOOP_COMMON_HOME,HADOOP_HDFS_HOME,HADOOP_CONF_DIR,"
                                          "HADOOP_YARN_HOME,PATH,LANG,TZ",
        "yarn.log-aggregation-enable": "false",
    }))
    (conf / "capacity-scheduler.xml").write_text(_site_xml({
        "yarn.scheduler.capacity.root.queues": "default",
        "yarn.scheduler.capacity.root.default.capacity": "100",
        "yarn.scheduler.capacity.root.default.maximum-capacity": "100",
        "yarn.scheduler.capacity.maximum-am-resource-percent": "0.5",
        "yarn.scheduler.capacity.maximum-applications": "100",
    }))
    (conf / "log4j.properties").write_text(
        "log4j.rootLogger=WARN, console\nlog4j.appender.console=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
        "log4j.logger.org.apache.hadoop.yarn.server.resourcemanager.RMAppManager$ApplicationSummary=INFO\n")
    # As for HDFS: the Maven jars lack the distribution's webapps/ resources; the REST API
    # (/ws/v1/cluster) needs the directories to exist.
    for app in ("cluster", "node", "yarn", "static"):
        web = conf / "webapps" / app
        web.mkdir(parents=True, exist_ok=True)
        (web / ".keep").write_text("")
    return conf


def _java_home() -> str:
    java = shutil.which("java")
    if java is None:
        raise FileNotFoundError("java is not on PATH (scripts/setup.sh installs a JDK)")
    return str(Path(os.path.realpath(java)).parent.parent)


def _java(settings: Settings, conf: Path, role: str) -> list[str]:
    log_dir = settings.home / "log"
    return ["java", *JVM_FLAGS, f"-Dhadoop.log.dir={log_dir}", f"-Dyarn.log.dir={log_dir}",
            "-cp", jvm.classpath("hadoop", conf), MAIN[role]]


def cluster(settings: Settings, path: str) -> dict:
    """GET the ResourceManager's REST API (``/ws/v1/cluster/...``)."""
    with urllib.request.urlopen(f"{web_url(settings)}/ws/v1/cluster/{path}", timeout=5) as resp:
        return json.load(resp)


def _ready(settings: Settings) -> bool:
    """One NodeManager RUNNING with its memory registered: an application can be admitted."""
    nodes = (cluster(settings, "nodes").get("nodes") or {}).get("node") or []
    return any(n.get("state") == "RUNNING" and n.get("availMemoryMB", 0) + n.get("usedMemoryMB", 0) > 0
               for n in nodes)


def start(settings: Settings) -> str:
    conf = _write_conf(settings)
    run, log = settings.home / "run", settings.home / "log"
    env = {**os.environ, "JAVA_HOME": _java_home(), "HADOOP_CONF_DIR": str(conf)}
    for role in ROLES:
        if read_pid(run / f"yarn-{role}.pid") is None:
            start_background(_java(settings, conf, role), run / f"yarn-{role}.pid", log / f"yarn-{role}.log", env=env)
    wait_until(lambda: _ready(settings), f"YARN at {web_url(settings)}", 120,
               log_file=log / "yarn-nodemanager.log", pid_file=run / "yarn-nodemanager.pid")
    return f"YARN ResourceManager at 127.0.0.1:{_ports(settings)['rm']}, REST at {web_url(settings)}/ws/v1/cluster"


def stop(settings: Settings) -> bool:
    return any([stop_pid(settings.home / "run" / f"yarn-{role}.pid") for role in reversed(ROLES)])


def is_up(settings: Settings) -> bool:
    try:
        return _ready(settings)
    except Exception:  # noqa: BLE001 - a probe: any failure means "not up"
        return False


def application(settings: Settings, app_id: str) -> dict:
    """The ResourceManager's report of one application (state, finalStatus, diagnostics...)."""
    return cluster(settings, f"apps/{app_id}")["app"]
