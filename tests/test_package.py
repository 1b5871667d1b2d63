"""`sensorwatch package`: the packed job environment holds the dependencies and this project
(installed, not editable); the printed commands are the yarn profile's (tests/test_yarn.py
runs them on a real YARN). And the jobs environment itself has an intact PySpark (the
Airflow provider's pyspark-client would overwrite it: that is why Airflow has its own)."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from importlib import metadata

import pytest

from sensorwatch.config import REPO_ROOT, load_settings
from sensorwatch.runtime.package import Package, instructions
from sensorwatch.runtime.submit import JOBS, submission

SITE = "lib/python3.11/site-packages/"
NEEDED = ("pyspark", "tensorflow", "keras", "mlflow", "confluent_kafka", "hdfs", "psycopg", "pyarrow", "pandas",
          "orjson", "sensorwatch", "schemas", "features", "models")


@dataclass(frozen=True)
class Listed:
    package: Package       # as built (shared with tests/test_yarn.py, which runs it on YARN)
    names: frozenset[str]  # every member of the archive
    pth: dict[str, str]    # the .pth files' contents


@pytest.fixture(scope="module")
def unpacked(built_package):
    names, pth = set(), {}
    with tarfile.open(built_package.archive, mode="r|gz") as tar:  # one pass over the stream
        for member in tar:
            names.add(member.name)
            if member.name.startswith(SITE) and member.name.endswith(".pth"):
                pth[member.name] = tar.extractfile(member).read().decode()
    return Listed(built_package, frozenset(names), pth)


def test_the_archive_holds_the_dependencies_and_the_project(unpacked):
    names, package = unpacked.names, unpacked.package
    for name in NEEDED:
        assert any(n.startswith(f"{SITE}{name}/") for n in names), f"{name} is not in the archive"
    assert {"bin/python", "bin/spark-submit", "pyvenv.cfg"} <= names
    # installed as a wheel: the code itself is inside, no .pth pointing back at this checkout
    assert f"{SITE}sensorwatch/pipeline/prediction.py" in names and f"{SITE}models/serving.py" in names
    assert not [name for name, text in unpacked.pth.items() if str(REPO_ROOT) in text]
    assert sorted(p.name for p in package.jobs_dir.glob("*.py")) == sorted(JOBS.values())
    assert {p.name for p in package.conf_dir.glob("*.yaml")} >= {"local.yaml", "yarn.yaml"}


def test_the_printed_commands_are_the_yarn_profiles(unpacked):
    package = unpacked.package
    yarn = load_settings("yarn", environ={})
    text = instructions(package, yarn)
    assert f"hdfs dfs -put -f {package.archive} {yarn.spark.archive}" in text
    assert f"hdfs dfs -put -f {package.spark_jars} {yarn.spark.conf['spark.yarn.archive']}" in text
    assert f"{package.size_mb:,.0f} MiB" in text and package.size_mb > 100
    for job in JOBS:
        command = submission(yarn, job, jobs_dir=package.jobs_dir, conf_file=package.conf_dir / "yarn.yaml")
        assert command.shell() in text
        assert command.archives == f"{yarn.spark.archive}#environment"
        assert command.conf["spark.pyspark.python"] == "./environment/bin/python"
        assert command.deploy_mode == "cluster" and command.files == str(package.conf_dir / "yarn.yaml")
        assert command.conf["spark.yarn.archive"] == yarn.spark.conf["spark.yarn.archive"]
        assert command.application == str(package.jobs_dir / JOBS[job])


def test_the_jobs_environment_has_one_intact_pyspark(spark):
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("pyspark-client")
    import pyspark

    assert pyspark.__version__ == metadata.version("pyspark") == spark.version
