"""What the DAGs in ``airflow_dags/`` share: a ``SparkSubmitOperator`` per job, built from the
conf profile, and the retry defaults. Imported only by the DAG files, in the Airflow
environment (which has neither Spark nor TensorFlow: ``sensorwatch.runtime.submit`` needs neither).

* The profile is ``$SENSORWATCH_PROFILE`` of the Airflow processes (default ``local``):
  application, arguments and Spark conf come from it through ``sensorwatch.runtime.submit``.
* The master comes from the Airflow connection ``sensorwatch_spark`` (the provider takes
  it from a connection only): host ``yarn`` on a cluster, ``local[2]`` locally, e.g.
  ``AIRFLOW_CONN_SENSORWATCH_SPARK='{"conn_type": "spark", "host": "local[2]"}'``.
* On YARN in cluster mode the provider tracks each application through the ResourceManager's
  REST API: the connection's extra holds ``yarn_resourcemanager_webapp_address``.
* ``spark-submit`` must be on the PATH of the Airflow worker (the provider takes no path):
  the cluster's Spark client, or locally this checkout's ``.venv/bin``.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from sensorwatch.config import Settings, load_settings
from sensorwatch.runtime.submit import submission

SPARK_CONN_ID = "sensorwatch_spark"
TAGS = ["sensorwatch"]


@cache
def settings() -> Settings:
    """The profile, read once per DAG-file parse (a small YAML file, validated)."""
    return load_settings()


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(minutes=1)) -> dict:
    """Retries with exponential backoff: a job that fails on a service hiccup runs again."""
    return {"owner": "sensorwatch", "retries": retries, "retry_delay": retry_delay,
            "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=15)}


def spark_task(job: str, args: list[str] | tuple[str, ...] = (), *, timeout: timedelta,
               task_id: str | None = None, **kwargs) -> SparkSubmitOperator:
    """``spark-submit jobs/<job>.py --profile P ARGS`` as a task (``args`` may hold Jinja)."""
    sub = submission(settings(), job, list(args))
    if settings().spark.master == "yarn" and sub.deploy_mode == "cluster":
        # The provider follows a cluster-mode application through the ResourceManager's REST API
        # (and finds it again after a worker restart): the connection's extra names the RM,
        # {"yarn_resourcemanager_webapp_address": "http://rm:8088"}.
        kwargs.setdefault("yarn_track_via_rm_api", True)
    return SparkSubmitOperator(task_id=task_id or job, conn_id=SPARK_CONN_ID, execution_timeout=timeout,
                               **sub.operator_kwargs(), **kwargs)
