"""The JVM side of the stack, resolved from Maven Central once and cached outside the repo.

Each component has a small ``pom.xml`` under ``jvm/<component>/`` of this repository: the one
place its versions are pinned. ``resolve(component)`` runs ``mvn dependency:copy-dependencies``
into ``$SENSORWATCH_CACHE/jvm/<component>-<version>-<pom hash>/lib`` the first time and
returns that folder; later calls find the ``.resolved`` stamp and run nothing (a changed pom
is a new folder). Maven's own repository (``~/.m2``) keeps the downloads themselves.

Components:
    kafka-broker   Apache Kafka 4 (KRaft) broker + Log4j 2   (sensorwatch.services.kafka)
    hadoop         HDFS NameNode + DataNode                  (sensorwatch.services.hdfs)
    spark-kafka    Spark's own Kafka source for the jobs     (spark.jars / --jars)
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import OperationFailed
from sensorwatch.config import CACHE_ROOT, REPO_ROOT

if TYPE_CHECKING:
    from sensorwatch.config import Settings

log = logging.getLogger(__name__)

POM_DIR = REPO_ROOT / "jvm"
COMPONENTS = ("kafka-broker", "hadoop", "spark-kafka")
STAMP = ".resolved"


class JvmResolutionError(OperationFailed):
    """Maven could not resolve a component's jars (the message holds mvn's own answer)."""


def _pom(component: str) -> Path:
    if component not in COMPONENTS:
        raise ValueError(f"unknown JVM component '{component}' (known: {', '.join(COMPONENTS)})")
    pom = POM_DIR / component / "pom.xml"
    if not pom.is_file():
        raise JvmResolutionError(f"{pom} is missing: the JVM components are resolved from this checkout's jvm/ poms")
    return pom


def cache_dir(component: str) -> Path:
    """Where ``component``'s jars live: keyed by its version and the pom's content."""
    text = _pom(component).read_bytes()
    version = re.search(rb"<artifactId>%s</artifactId>\s*<version>([^<]+)</version>" % component.encode(), text)
    tag = version.group(1).decode() if version else "0"
    return CACHE_ROOT / "jvm" / f"{component}-{tag}-{hashlib.sha256(text).hexdigest()[:10]}"


def resolve(component: str) -> Path:
    """The folder of ``component``'s jars, resolving them from Maven Central the first time."""
    target = cache_dir(component)
    lib = target / "lib"
    if (target / STAMP).exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JvmResolutionError("Maven (mvn) is not installed: run scripts/setup.sh (apt-get install maven)")
    shutil.rmtree(lib, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "-f", str(_pom(component)), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={lib}"]
    log.info("resolving %s from Maven Central into %s", component, lib)
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not any(lib.glob("*.jar")):
        answer = "\n".join((result.stdout + result.stderr).strip().splitlines()[-8:])
        raise JvmResolutionError(f"could not resolve {component} from Maven Central:\n  $ {' '.join(cmd)}\n{answer}")
    jars = sorted(p.name for p in lib.glob("*.jar"))
    (target / STAMP).write_text("\n".join(jars) + "\n")
    log.info("resolved %s: %d jars in %.1f s", component, len(jars), time.monotonic() - started)
    return lib


def jars(component: str) -> list[Path]:
    """The jar files of ``component`` (resolved if needed), in a stable order."""
    return sorted(resolve(component).glob("*.jar"))


def classpath(component: str, *extra: Path | str) -> str:
    """A ``java -cp`` value: ``extra`` entries (config folders) first, then the jars."""
    return ":".join([*map(str, extra), str(resolve(component) / "*")])


def job_jars(settings: Settings) -> str:
    """``spark.jars`` for a job: the profile's own (if any) plus Spark's Kafka source and its
    client from the cache."""
    listed = [j for j in settings.spark.conf.get("spark.jars", "").split(",") if j]
    return ",".join([*listed, *(str(p) for p in jars("spark-kafka"))])


def main() -> None:
    """``python -m sensorwatch.runtime.jvm``: resolve every component (scripts/setup.sh runs it)."""
    logging.basicConfig(level=logging.INFO, format="setup: %(message)s")
    for component in COMPONENTS:
        resolve(component)


if __name__ == "__main__":
    main()
