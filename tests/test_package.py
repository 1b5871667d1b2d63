"""`sensorwatch package`: the packed job environment holds the dependencies and this project
(installed, not editable); a job spark-submitted in local mode from the package, with the
unpacked environment as its only Python, runs against the real broker and HDFS; the printed
commands are the yarn profile's. And the jobs environment itself has an intact PySpark
(the Airflow provider's pyspark-client would overwrite it: that is why Airflow has its own)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from sensorwatch.config import REPO_ROOT, load_settings
from sensorwatch.package import Package, build, instructions
from sensorwatch.sources.produce import simulate_to_kafka
from sensorwatch.submit import JOBS, submission

SITE = "lib/python3.11/site-packages/"
NEEDED = ("pyspark", "tensorflow", "keras", "mlflow", "confluent_kafka", "hdfs", "psycopg", "pyarrow", "pandas",
          "orjson", "sensorwatch", "schemas", "features", "models")


# This module's peak on disk, measured: 5.1 GB (the build environment's own files, the rest
# being hard links into uv's cache; the archive, 1.4 GB; the unpacked environment, 3.3 GB).
# A disk that cannot hold that fails here, instead of filling up under the suite's NameNode.
PEAK_DISK_BYTES = 6 * 2**30


@dataclass(frozen=True)
class Unpacked:
    package: Package       # as built; its archive is deleted once unpacked (1.4 GB less on disk)
    names: frozenset[str]  # every member of the archive
    pth: dict[str, str]    # the .pth files' contents
    environment: Path      # the archive unpacked, as YARN does into ./environment


@pytest.fixture(scope="module")
def unpacked():
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < PEAK_DISK_BYTES:
        pytest.fail(f"packaging needs {PEAK_DISK_BYTES / 2**30:.0f} GB of free disk at its peak; "
                    f"{free / 2**30:.1f} GB free in {tempfile.gettempdir()}")
    with tempfile.TemporaryDirectory(prefix="sensorwatch-dist-") as out:
        package = build(out, log=lambda _: None)  # the CLI's default compression
        environment = Path(out) / "work" / "environment"
        names, pth = set(), {}
        with tarfile.open(package.archive, mode="r|gz") as tar:  # one pass over the stream
            for member in tar:
                names.add(member.name)
                tar.extract(member, environment, filter="tar")
                if member.name.startswith(SITE) and member.name.endswith(".pth"):
                    pth[member.name] = (environment / member.name).read_text()
        package.archive.unlink()
        yield Unpacked(package, frozenset(names), pth, environment)


def test_the_archive_holds_the_dependencies_and_the_project(unpacked):
    names, package = unpacked.names, unpacked.package
    for name in NEEDED:
        assert any(n.startswith(f"{SITE}{name}/") for n in names), f"{name} is not in the archive"
    assert {"bin/python", "bin/spark-submit", "pyvenv.cfg"} <= names
    # installed as a wheel: the code itself is inside, no .pth pointing back at this checkout
    assert f"{SITE}sensorwatch/predict_job.py" in names and f"{SITE}models/serving.py" in names
    assert not [name for name, text in unpacked.pth.items() if str(REPO_ROOT) in text]
    assert sorted(p.name for p in package.jobs_dir.glob("*.py")) == sorted(JOBS.values())
    assert {p.name for p in package.conf_dir.glob("*.yaml")} >= {"local.yaml", "yarn.yaml"}


def test_the_printed_commands_are_the_yarn_profiles(unpacked):
    package = unpacked.package
    yarn = load_settings("yarn", environ={})
    text = instructions(package, yarn)
    assert f"hdfs dfs -put -f {package.archive} {yarn.spark.archive}" in text
    assert f"{package.size_mb:,.0f} MiB" in text and package.size_mb > 100
    for job in JOBS:
        command = submission(yarn, job, jobs_dir=package.jobs_dir, conf_file=package.conf_dir / "yarn.yaml")
        assert command.shell() in text
        assert command.archives == f"{yarn.spark.archive}#environment"
        assert command.conf["spark.pyspark.python"] == "./environment/bin/python"
        assert command.deploy_mode == "cluster" and command.files == str(package.conf_dir / "yarn.yaml")
        assert command.application == str(package.jobs_dir / JOBS[job])


def test_a_job_spark_submitted_from_the_package_runs_on_the_unpacked_environment(unpacked, isolated, spark, tmp_path,
                                                                                  monkeypatch):
    package, python = unpacked.package, unpacked.environment / "bin" / "python"
    work = unpacked.environment.parent  # the job runs where ./environment is, as in a YARN container
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK", "SPARK_HOME", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(SENSORWATCH_JOBS_PYTHON=str(python), SENSORWATCH_CONF_DIR=str(package.conf_dir),
               SENSORWATCH__KAFKA__TOPIC=isolated.kafka.topic, SENSORWATCH__KAFKA__PARTITIONS="2",
               SENSORWATCH__STORAGE__ROOT=isolated.storage.root,
               PATH=f"{python.parent}:{env['PATH']}")  # spark-submit: the packaged pyspark's
    where = subprocess.run([str(python), "-c", "import sensorwatch, pyspark; print(sensorwatch.__file__, pyspark.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert where.count(str(unpacked.environment / SITE)) == 2, where

    produced = simulate_to_kafka(isolated, assets=2, seconds=90, anomalies_per_asset=0, bad_events=3,
                                 ground_truth=tmp_path / "truth.json")
    monkeypatch.setenv("SENSORWATCH_JOBS_PYTHON", str(python))
    settings = load_settings("local", conf_dir=package.conf_dir, environ=env)
    command = submission(settings, "ingest", ["--trigger", "availableNow"], jobs_dir=package.jobs_dir).command()
    for key in ("spark.pyspark.python", "spark.pyspark.driver.python"):  # driver and workers: the unpacked Python
        assert f"{key}={python}" in command
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert spark.read.parquet(isolated.storage.landing).count() == produced["valid_events"] == 180
    assert spark.read.parquet(isolated.storage.quarantine).count() == 3


def test_the_jobs_environment_has_one_intact_pyspark(spark):
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("pyspark-client")
    import pyspark

    assert pyspark.__version__ == metadata.version("pyspark") == spark.version
