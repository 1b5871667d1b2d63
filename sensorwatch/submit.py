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
  executors run ``./environment/bin/python``. The profile's YAML goes along with
  ``--files`` and the driver reads it from its container's working directory.

Imports nothing heavy: the Airflow environment (no Spark, no TensorFlow) loads it.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from sensorwatch import jvm
from sensorwatch.config import REPO_ROOT, Settings, profile_path

# job name -> its spark-submit entry point in jobs/
JOBS = {
    "ingest": "ingest_stream.py",
    "features": "compute_features.py",
    "train": "train_model.py",
    "predict": "predict_anomalies.py",
}
ENV_ALIAS = "environment"  # the archive's directory name in each YARN container


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

    def _options(self) -> list[tuple[str, str]]:
        opts = [("--master", self.master), ("--name", self.name)]
        opts += [(flag, value) for flag, value in (("--deploy-mode", self.deploy_mode), ("--archives", self.archives),
                                                   ("--files", self.files)) if value]
        return opts + [("--conf", f"{key}={value}") for key, value in sorted(self.conf.items())]

    def command(self) -> list[str]:
        """The spark-submit command line, as a list."""
        return ["spark-submit", *(part for option in self._options() for part in option), self.application, *self.args]

    def shell(self) -> str:
        """The command for a terminal, one option per line."""
        lines = ["spark-submit", *(f"{flag} {shlex.quote(value)}" for flag, value in self._options()),
                 shlex.join([self.application, *self.args])]
        return " \\\n    ".join(lines)

    def operator_kwargs(self) -> dict:
        """Arguments for ``SparkSubmitOperator`` (the master comes from its Airflow connection)."""
        return {"application": self.application, "application_args": self.args, "conf": self.conf,
                "name": self.name, "deploy_mode": self.deploy_mode, "archives": self.archives,
                "files": self.files}


def submission(settings: Settings, job: str, args: list[str] | tuple[str, ...] = (),
               jobs_dir: Path | str | None = None, conf_file: Path | str | None = None) -> Submission:
    """What spark-submit runs for ``job`` under ``settings``' profile.

    ``jobs_dir``: where the entry points are (default: this checkout's ``jobs/``; the
    package's copy for a cluster). ``conf_file``: the profile's YAML to ship with the job
    when ``spark.archive`` is set (default: the file the profile was loaded from).
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
        files = str(conf_file or profile_path(settings.profile))
        conf["spark.yarn.appMasterEnv.SENSORWATCH_CONF_DIR"] = "."
    else:
        python = str(jobs_python())
        conf["spark.pyspark.python"] = python
        conf["spark.pyspark.driver.python"] = python
    application = str(Path(jobs_dir or REPO_ROOT / "jobs") / JOBS[job])
    return Submission(job=job, master=settings.spark.master, application=application,
                      args=["--profile", settings.profile, *args], conf=conf, deploy_mode=deploy_mode,
                      archives=archives, files=files, name=f"sensorwatch-{job}")
