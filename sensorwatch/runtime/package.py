"""``sensorwatch package``: what spark-submit needs on a YARN cluster, built from this checkout.

    dist/sensorwatch-<version>/
        sensorwatch-env.tar.gz   the jobs' virtual environment, packed with venv-pack:
                                 pyspark, TensorFlow, MLflow, the Kafka client ... and this
                                 project installed as a wheel (not editable)
        jobs/*.py                the spark-submit entry points
        conf/*.yaml              the profiles (the one submitted goes along with --files)
        spark-jars-<v>.zip       PySpark's own jars, for spark.yarn.archive (uploaded once
                                 instead of zipped and uploaded by every spark-submit)

The archive is what ``--archives ARCHIVE#environment`` ships; YARN unpacks it in each
container, where ``./environment/bin/python`` runs the driver (cluster mode) and the
executors. venv-pack does not copy the interpreter itself: the nodes need the same Python
(3.11) at the path the environment links to (``--python-prefix`` changes that path).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from sensorwatch.config import CACHE_ROOT, REPO_ROOT, Settings
from sensorwatch.runtime.submit import JOBS, submission

ARCHIVE_NAME = "sensorwatch-env.tar.gz"


@dataclass(frozen=True)
class Package:
    root: Path  # dist/sensorwatch-<version>
    archive: Path
    jobs_dir: Path
    conf_dir: Path
    size_mb: float  # the archive's, as built
    seconds: dict[str, float]
    spark_jars: Path | None = None


def build(out: Path | str = REPO_ROOT / "dist", work: Path | str = REPO_ROOT / "build" / "package",
          python_prefix: str | None = None, compress_level: int = 1, log=print) -> Package:
    """Build the package under ``out`` (the environment in ``work`` is reused next time)."""
    import venv_pack

    root = Path(out) / f"sensorwatch-{metadata.version('sensorwatch')}"
    env = Path(work) / "venv"
    seconds = {}

    started = time.monotonic()
    if not (env / "bin" / "python").exists():
        log(f"package: creating the environment {env}")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    log("package: installing sensorwatch and its pinned dependencies (as a wheel, not editable)")
    _uv_install(env, REPO_ROOT)
    seconds["install"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    archive = root / ARCHIVE_NAME
    log(f"package: packing the environment into {archive} (venv-pack)")
    venv_pack.pack(prefix=str(env), output=str(archive), force=True, compress_level=compress_level,
                   python_prefix=python_prefix)
    seconds["pack"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    spark_jars = _spark_jars_zip(root)
    seconds["spark_jars"] = round(time.monotonic() - started, 1)

    for name, source in (("jobs", REPO_ROOT / "jobs"), ("conf", REPO_ROOT / "conf")):
        shutil.rmtree(root / name, ignore_errors=True)
        shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return Package(root=root, archive=archive, jobs_dir=root / "jobs", conf_dir=root / "conf",
                   size_mb=archive.stat().st_size / 2**20, seconds=seconds, spark_jars=spark_jars)


def _spark_jars_zip(root: Path) -> Path:
    """PySpark's jars/ as one uncompressed zip (jars are compressed already), the form
    ``spark.yarn.archive`` takes: YARN caches it on each node instead of Spark uploading the
    jars with every application."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    target = root / f"spark-jars-{metadata.version('pyspark')}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for jar in sorted(jars.glob("*.jar")):
            zf.write(jar, jar.name)
    return target


def hdfs_path(uri: str) -> str:
    """``hdfs:///apps/x`` or ``hdfs://nn:8020/apps/x`` -> ``/apps/x`` (the WebHDFS path)."""
    return urlparse(uri).path


def upload(package: Package, settings: Settings, log=print) -> dict[str, float]:
    """Put the environment and Spark's jars where the profile's ``spark.archive`` and
    ``spark.yarn.archive`` point, over WebHDFS (what ``hdfs dfs -put -f`` does); seconds each.
    World-readable, as YARN wants a resource it caches for every application (PUBLIC)."""
    from sensorwatch.connectors.hdfs import webhdfs_client

    client = webhdfs_client(settings)
    targets = [(package.archive, settings.spark.archive)]
    if package.spark_jars and settings.spark.conf.get("spark.yarn.archive"):
        targets.append((package.spark_jars, settings.spark.conf["spark.yarn.archive"]))
    seconds = {}
    for local, remote in targets:
        if not remote:
            continue
        started = time.monotonic()
        path = hdfs_path(remote)
        log(f"package: uploading {local.name} ({local.stat().st_size / 2**20:,.0f} MiB) to {remote}")
        client.makedirs(path.rsplit("/", 1)[0], permission="755")
        client.upload(path, str(local), overwrite=True, permission="644", chunk_size=8 * 2**20)
        seconds[local.name] = round(time.monotonic() - started, 1)
    return seconds


def _uv_install(env: Path, project: Path) -> None:
    """Install ``project`` (non-editable) with uv, which hard-links from its cache; PySpark's
    wheel comes from the wheelhouse scripts/setup.sh built (uv would build the sdist again).
    The versions are the lock's (``constraints.txt``): the cluster runs what CI tested."""
    uv = Path(sys.executable).parent / "uv"
    constraints = project / "constraints.txt"
    cmd = [str(uv) if uv.exists() else "uv", "pip", "install", "--python", str(env / "bin" / "python"),
           "--quiet", "--compile-bytecode", "--find-links", str(CACHE_ROOT / "wheels"),
           *(["--constraint", str(constraints)] if constraints.exists() else []),
           "--reinstall-package", "sensorwatch", str(project)]
    subprocess.run(cmd, check=True)


def instructions(package: Package, settings: Settings) -> str:
    """How to put the package on the cluster and submit each job under ``settings``' profile."""
    lines = [f"package: {package.root}", f"  {package.archive.name}  {package.size_mb:,.0f} MiB",
             f"  jobs/  {', '.join(JOBS.values())}", "  conf/  the profiles", ""]
    archive = settings.spark.archive
    if archive:
        lines += [f"1. Put the environment where spark.archive points (conf/{settings.profile}.yaml):",
                  f"   hdfs dfs -mkdir -p {archive.rsplit('/', 1)[0]}",
                  f"   hdfs dfs -put -f {package.archive} {archive}"]
        yarn_archive = settings.spark.conf.get("spark.yarn.archive")
        if yarn_archive and package.spark_jars:
            lines += [f"   hdfs dfs -put -f {package.spark_jars} {yarn_archive}"]
        lines += ["   (or: sensorwatch package --upload, over WebHDFS)", ""]
    lines += [f"2. Submit a job (profile '{settings.profile}'; a job's own options go at the end):", ""]
    for job in JOBS:
        sub = submission(settings, job, jobs_dir=package.jobs_dir,
                         conf_file=package.conf_dir / f"{settings.profile}.yaml")
        lines += [sub.shell(), ""]
    lines += ["The SQL and Kafka passwords are never in a file: export SENSORWATCH_SQL_PASSWORD and",
              "SENSORWATCH_KAFKA_PASSWORD before `sensorwatch submit` (or in the Airflow worker): the command",
              "passes them to the driver as spark.yarn.appMasterEnv.* (Spark redacts them in its UI and logs)."]
    return "\n".join(lines)
