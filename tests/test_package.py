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
from importlib import metadata

import pytest

from sensorwatch.config import load_settings
from sensorwatch.package import build, instructions
from sensorwatch.sources.produce import simulate_to_kafka
from sensorwatch.submit import JOBS, submission

SITE = "lib/python3.11/site-packages/"
NEEDED = ("pyspark", "tensorflow", "keras", "mlflow", "confluent_kafka", "hdfs", "psycopg", "pyarrow", "pandas",
          "orjson", "sensorwatch", "schemas", "features", "models")


@pytest.fixture(scope="module")
def package():
    # compress level 0 (stored) only to pack faster here (76 s instead of 137 s): the same
    # .tar.gz format. 3.3 GB: deleted afterwards, not left to pytest's tmp_path retention.
    with tempfile.TemporaryDirectory(prefix="sensorwatch-dist-") as out:
        yield build(out, compress_level=0, log=lambda _: None)


def test_the_archive_holds_the_dependencies_and_the_project(package):
    with tarfile.open(package.archive) as tar:
        names = set(tar.getnames())
        for name in NEEDED:
            assert any(n.startswith(f"{SITE}{name}/") for n in names), f"{name} is not in the archive"
        assert {"bin/python", "bin/spark-submit", "pyvenv.cfg"} <= names
        # installed as a wheel: the code itself is inside, no .pth pointing back at this checkout
        assert f"{SITE}sensorwatch/predict_job.py" in names and f"{SITE}models/serving.py" in names
        for pth in (n for n in names if n.startswith(SITE) and n.endswith(".pth")):
            assert "/work" not in tar.extractfile(pth).read().decode(), pth
    assert sorted(p.name for p in package.jobs_dir.glob("*.py")) == sorted(JOBS.values())
    assert {p.name for p in package.conf_dir.glob("*.yaml")} >= {"local.yaml", "yarn.yaml"}


def test_the_printed_commands_are_the_yarn_profiles(package):
    yarn = load_settings("yarn", environ={})
    text = instructions(package, yarn)
    assert f"hdfs dfs -put -f {package.archive} {yarn.spark.archive}" in text
    for job in JOBS:
        command = submission(yarn, job, jobs_dir=package.jobs_dir, conf_file=package.conf_dir / "yarn.yaml")
        assert command.shell() in text
        assert command.archives == f"{yarn.spark.archive}#environment"
        assert command.conf["spark.pyspark.python"] == "./environment/bin/python"
        assert command.deploy_mode == "cluster" and command.files == str(package.conf_dir / "yarn.yaml")
        assert command.application == str(package.jobs_dir / JOBS[job])


def test_a_job_spark_submitted_from_the_package_runs_on_the_unpacked_environment(package, isolated, spark, tmp_path,
                                                                                  monkeypatch, request):
    with tarfile.open(package.archive) as tar:  # as YARN does: ./environment in the working directory
        tar.extractall(tmp_path / "environment", filter="tar")
    request.addfinalizer(lambda: shutil.rmtree(tmp_path / "environment"))
    python = tmp_path / "environment" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK", "SPARK_HOME", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(SENSORWATCH_JOBS_PYTHON=str(python), SENSORWATCH_CONF_DIR=str(package.conf_dir),
               SENSORWATCH__KAFKA__TOPIC=isolated.kafka.topic, SENSORWATCH__KAFKA__PARTITIONS="2",
               SENSORWATCH__STORAGE__ROOT=isolated.storage.root,
               PATH=f"{python.parent}:{env['PATH']}")  # spark-submit: the packaged pyspark's
    where = subprocess.run([str(python), "-c", "import sensorwatch, pyspark; print(sensorwatch.__file__, pyspark.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.count(str(tmp_path / "environment" / SITE)) == 2, where

    produced = simulate_to_kafka(isolated, assets=2, seconds=90, anomalies_per_asset=0, bad_events=3,
                                 ground_truth=tmp_path / "truth.json")
    monkeypatch.setenv("SENSORWATCH_JOBS_PYTHON", str(python))
    settings = load_settings("local", conf_dir=package.conf_dir, environ=env)
    command = submission(settings, "ingest", ["--trigger", "availableNow"], jobs_dir=package.jobs_dir).command()
    for key in ("spark.pyspark.python", "spark.pyspark.driver.python"):  # driver and workers: the unpacked Python
        assert f"{key}={python}" in command
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert spark.read.parquet(isolated.storage.landing).count() == produced["valid_events"] == 180
    assert spark.read.parquet(isolated.storage.quarantine).count() == 3


def test_the_jobs_environment_has_one_intact_pyspark(spark):
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("pyspark-client")
    import pyspark

    assert pyspark.__version__ == metadata.version("pyspark") == spark.version
