"""The Spark driver's class-data archive (AppCDS): Spark's classes loaded, parsed and verified
once, then mapped by every local driver JVM.

A scheduled run (``sensorwatch submit``) and every command start a fresh JVM; on 2 cores it
spends ~4 s loading and verifying the ~20k classes of Spark, Hadoop's client and Arrow
before the job's first line. JDK 17's dynamic CDS archive keeps them ready: ``build`` runs a
small local Spark session through the paths the jobs take (Parquet, aggregations, window
functions, the Arrow transfers of ``mapInPandas`` and ``mapInArrow``) with
``-XX:ArchiveClassesAtExit`` once (``scripts/setup.sh``), into the cache outside the repo,
keyed by the Java runtime and Spark's jars; ``java_options`` then names it for a local driver
(``sensorwatch.runtime.spark.get_spark``, ``sensorwatch.runtime.submit``). A missing archive
means no option; one the JVM cannot use (another classpath) is ignored by the JVM, silently.
On YARN the driver runs in a container of another node: nothing changes there.

    python -m sensorwatch.runtime.class_archive      (setup; a second run does nothing)
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sensorwatch.config import CACHE_ROOT, Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DRIVER_OPTIONS = "spark.driver.extraJavaOptions"
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"  # a stale archive is ignored without a warning on stdout
SWITCH = "SENSORWATCH_CLASS_ARCHIVE"  # "off": the drivers start without the archive


def java_binary() -> Path | None:
    """The java that Spark's launcher runs: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def spark_jars() -> Path | None:
    """The jars of this environment's PySpark (None: no PySpark here, e.g. Airflow's environment)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        return None
    jars = Path(next(iter(spec.submodule_search_locations))) / "jars"
    return jars if jars.is_dir() else None


def archive_path(cache_root: Path = CACHE_ROOT) -> Path | None:
    """Where the archive of this Java runtime and these Spark jars lives (None: no Java or no Spark)."""
    java, jars = java_binary(), spark_jars()
    if java is None or jars is None:
        return None
    stat = java.stat()
    key = hashlib.sha256("\n".join([str(java), str(stat.st_size), str(int(stat.st_mtime)),
                                    *sorted(p.name for p in jars.glob("*.jar"))]).encode()).hexdigest()[:16]
    return cache_root / "jvm" / f"spark-classes-{key}.jsa"


def java_options(cache_root: Path = CACHE_ROOT) -> str:
    """The driver JVM's options that map the archive, or "" where there is none (or
    ``SENSORWATCH_CLASS_ARCHIVE=off``: how bench/predict.py measures without it)."""
    if os.environ.get(SWITCH) == "off":
        return ""
    path = archive_path(cache_root)
    return f"-XX:SharedArchiveFile={path} {QUIET}" if path is not None and path.is_file() else ""


def with_archive(conf: dict[str, str], master: str) -> dict[str, str]:
    """``conf`` with the archive added to the driver's Java options, for a local master
    (a driver on this machine); unchanged otherwise or without an archive."""
    options = java_options() if master.startswith("local") else ""
    if not options:
        return conf
    return {**conf, DRIVER_OPTIONS: f"{conf.get(DRIVER_OPTIONS, '')} {options}".strip()}


def build(settings: Settings, cache_root: Path = CACHE_ROOT) -> Path | None:
    """The archive, made by a representative local session if it is not there yet; None
    where it cannot be (no Java or Spark here). Written aside and renamed when complete."""
    path = archive_path(cache_root)
    if path is None or path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    started = time.monotonic()
    local = settings.with_overrides(spark={"master": "local[2]", "conf": {
        **settings.spark.conf, DRIVER_OPTIONS: f"-XX:ArchiveClassesAtExit={aside} {QUIET}"}})
    _exercise(local)
    if not aside.is_file():
        raise RuntimeError(f"the JVM wrote no class archive at {aside}")
    os.replace(aside, path)
    log.info("class archive of the Spark driver: %s (%d MB) in %.0f s", path, path.stat().st_size >> 20,
             time.monotonic() - started)
    return path


def _exercise(settings: Settings) -> None:
    """A local session through the jobs' paths, then its JVM stopped (it writes the archive at exit)."""
    import pandas as pd
    from pyspark import SparkContext
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from sensorwatch.runtime.spark import get_spark

    spark = get_spark(settings, "sensorwatch-class-archive", model_runtime=True)
    with tempfile.TemporaryDirectory(prefix="sensorwatch-classes-") as scratch:
        times = pd.date_range("2026-01-01", periods=300, freq="s")
        frame = pd.DataFrame({"asset_id": [f"a{i}" for i in range(10) for _ in times],
                              "event_time": list(times) * 10, "value": range(3000)})
        events = spark.createDataFrame(frame).withColumn("date", F.to_date("event_time"))
        events.write.partitionBy("date").parquet(f"file://{scratch}/landing")
        landed = spark.read.parquet(f"file://{scratch}/landing")
        means = landed.groupBy("asset_id", F.window("event_time", "10 seconds")).agg(
            F.avg("value").alias("mean"), F.count("*").alias("n")).cache()
        means.count()
        ordered = landed.withColumn("before", F.lag("value").over(Window.partitionBy("asset_id").orderBy("event_time")))
        ordered.repartition(2, "asset_id").sortWithinPartitions("asset_id", "event_time").mapInPandas(
            _doubled, ordered.schema).toPandas()
        landed.mapInArrow(lambda batches: batches, landed.schema).groupBy().count().collect()
        landed.select(F.to_json(F.struct("*"))).collect()
    spark.stop()
    gateway = SparkContext._gateway
    if gateway is not None and gateway.proc is not None:  # PySpark's JVM exits when its stdin closes
        gateway.proc.stdin.close()
        gateway.proc.wait(timeout=300)
        SparkContext._gateway = SparkContext._jvm = None


def _doubled(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """A ``mapInPandas`` function (the Python workers' Arrow path)."""
    for batch in batches:
        yield batch.assign(value=batch["value"] * 2)


def main() -> None:
    """``python -m sensorwatch.runtime.class_archive``: make the archive (scripts/setup.sh).
    A failure is a warning: the jobs run without it, as before."""
    logging.basicConfig(level=logging.INFO, format="setup: %(message)s")
    try:
        path = build(load_settings("local", environ={}))
    except Exception as exc:  # noqa: BLE001 - an optimisation: setup goes on without it
        log.warning("no class archive for the Spark driver (%s: %s); the jobs start without it",
                    type(exc).__name__, exc)
        return
    if path is None:
        log.warning("no class archive for the Spark driver: no Java or no PySpark in this environment")


if __name__ == "__main__":
    main()
