"""spark-submit, one way: what to submit for a job under a conf profile.

``submission(settings, "predict", ["--at", T])`` gives the application, its arguments and
the Spark conf; ``.command()`` renders the spark-submit command line (``sensorwatch
package`` prints it for the cluster) and ``.operator_kwargs()`` the same as arguments of
Airflow's ``SparkSubmitOperator`` (the DAGs). Both come from the profile: master, deploy
mode and ``spark.conf`` from its ``spark`` section, ``--profile`` passed on to the job.

Two ways to run, chosen by ``spark.archive``:

* unset (profile ``local``): the jobs of this checkout, with its ``.venv`` as Python on
  the driver and the workers (``$SENSORWATCH_JOBS_PYTHON`` overrides it).
* set (profile ``yarn``): the packed environment is shipped with ``--archives
  ARCHIVE#environment`` and YARN unpacks it in every container; driver (cluster mode) and
  executors run ``./environment/bin/python``. The profile's YAML (and the profile it
  extends) goes along with ``--files`` and the driver reads it from its container's working
  directory. The submitting process's settings overrides (``SENSORWATCH__...``) and secrets
  (``SENSORWATCH_SQL_PASSWORD``, ``SENSORWATCH_KAFKA_PASSWORD``) go to the driver's
  container environment (``spark.yarn.appMasterEnv.*``; Spark's UI redacts the secrets, and
  the printed command refers to them as ``$NAME`` instead of their values).

Imports nothing heavy: the Airflow environment (no Spark, no TensorFlow) loads it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sensorwatch.config import (
    ENV_PREFIX,
    REPO_ROOT,
    SECRET_ENV,
    Settings,
    in_checkout,
    profile_files,
    profile_path,
)
from sensorwatch.runtime import class_archive, jvm

# job name -> its spark-submit entry point in jobs/
JOBS = {
    "ingest": "ingest_stream.py",
    "features": "compute_features.py",
    "train": "train_model.py",
    "predict": "predict_anomalies.py",
    "forecast": "forecast_sensors.py",
}
ENV_ALIAS = "environment"  # the archive's directory name in each YARN container
MASTER_ENV = "spark.yarn.appMasterEnv."  # conf prefix: the driver's container environment (cluster mode)


def jobs_python() -> Path:
    """The Python of the jobs environment in this checkout (local mode)."""
    return Path(os.environ.get("SENSORWATCH_JOBS_PYTHON") or REPO_ROOT / ".venv" / "bin" / "python")


@dataclass(frozen=True)
class Submission:
    job: str
    master: str
    application: str
    args: list[str]
    conf: dict[str, str]
    deploy_mode: str | None = None
    archives: str | None = None
    files: str | None = None
    name: str = ""
    env: dict[str, str] | None = None  # of the spark-submit process (HADOOP_CONF_DIR)

    def _options(self) -> list[tuple[str, str]]:
        opts = [("--master", self.master), ("--name", self.name)]
        opts += [(flag, value) for flag, value in (("--deploy-mode", self.deploy_mode), ("--archives", self.archives),
                                                   ("--files", self.files)) if value]
        return opts + [("--conf", f"{key}={value}") for key, value in sorted(self.conf.items())]

    def _printed(self, flag: str, value: str) -> str:
        key = value.split("=", 1)[0]
        variable = key.removeprefix(MASTER_ENV)
        if flag == "--conf" and variable != key and variable in SECRET_ENV.values():  # its variable, not its value
            return f'{flag} {key}="${variable}"'
        return f"{flag} {shlex.quote(value)}"

    def command(self) -> list[str]:
        """The spark-submit command line, as a list."""
        return ["spark-submit", *(part for option in self._options() for part in option), self.application, *self.args]

    def shell(self) -> str:
        """The command for a terminal, one option per line."""
        env = [f"{k}={shlex.quote(v)}" for k, v in sorted((self.env or {}).items())]
        lines = [" ".join([*env, "spark-submit"]), *(self._printed(flag, value) for flag, value in self._options()),
                 shlex.join([self.application, *self.args])]
        return " \\\n    ".join(lines)

    def run(self, timeout_s: float | None = None, cwd: Path | str | None = None) -> Submitted:
        """Run spark-submit (this environment's: its bin/ goes first on PATH, as
        find-spark-home needs) and wait; the YARN application id is read from its output."""
        started = time.monotonic()
        done = subprocess.run(self.command(), env=spark_client_env(self.env), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout_s)
        ids = re.findall(r"Submitted application (application_\d+_\d+)", done.stderr)
        return Submitted(self.job, done.returncode, ids[-1] if ids else None, round(time.monotonic() - started, 1),
                         done.stdout, done.stderr)

    def operator_kwargs(self) -> dict:
        """Arguments for ``SparkSubmitOperator`` (the master comes from its Airflow connection)."""
        return {"application": self.application, "application_args": self.args, "conf": self.conf,
                "name": self.name, "deploy_mode": self.deploy_mode, "archives": self.archives,
                "files": self.files, "env_vars": self.env}


def spark_client_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for PySpark's own spark-submit: this environment's bin/ first on PATH
    (find-spark-home needs its Python), and no gateway of a Spark already running in this
    process (a test's or a notebook's), which spark-submit would otherwise reuse."""
    env = {**os.environ, **(extra or {}), "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    return env


@dataclass(frozen=True)
class Submitted:
    """What one spark-submit did: its exit code, the YARN application (cluster mode), time."""

    job: str
    returncode: int
    application_id: str | None
    seconds: float
    stdout: str
    stderr: str


def submission(settings: Settings, job: str, args: list[str] | tuple[str, ...] = (),
               jobs_dir: Path | str | None = None, conf_file: Path | str | None = None) -> Submission:
    """What spark-submit runs for ``job`` under ``settings``' profile.

    ``jobs_dir``: where the entry points are (default: this checkout's ``jobs/``; the
    package's copy for a cluster). ``conf_file``: the profile's YAML to ship with the job
    when ``spark.archive`` is set (default: the file the profile was loaded from), with the
    profiles it extends.
    """
    if job not in JOBS:
        raise ValueError(f"unknown job '{job}' (jobs: {', '.join(JOBS)})")
    conf = dict(settings.spark.conf)
    conf["spark.jars"] = jvm.job_jars(settings)  # Spark's Kafka source from the Maven cache
    deploy_mode = conf.pop("spark.submit.deployMode", None)
    files = None
    archives = None
    if settings.spark.archive:
        archives = f"{settings.spark.archive}#{ENV_ALIAS}"
        conf["spark.pyspark.python"] = f"./{ENV_ALIAS}/bin/python"
        profile = Path(conf_file) if conf_file else profile_path(settings.profile)
        files = ",".join(str(p) for p in profile_files(profile))
        conf[f"{MASTER_ENV}SENSORWATCH_CONF_DIR"] = "."
        for name, value in sorted(os.environ.items()):  # the settings as this process sees them
            if name.startswith(ENV_PREFIX) or name in SECRET_ENV.values():
                conf[f"{MASTER_ENV}{name}"] = value
    else:
        python = str(jobs_python())
        conf["spark.pyspark.python"] = python
        conf["spark.pyspark.driver.python"] = python
        conf = class_archive.with_archive(conf, settings.spark.master)
    env = None
    if settings.spark.hadoop_conf_dir:
        env = {"HADOOP_CONF_DIR": str(in_checkout(settings.spark.hadoop_conf_dir))}
    application = str(Path(jobs_dir or REPO_ROOT / "jobs") / JOBS[job])
    return Submission(job=job, master=settings.spark.master, application=application,
                      args=["--profile", settings.profile, *args], conf=conf, deploy_mode=deploy_mode,
                      archives=archives, files=files, name=f"sensorwatch-{job}", env=env)
