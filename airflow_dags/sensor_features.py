"""sensor_features: hourly, the windowed features of what landed since the last run.

Incremental (``sensorwatch features`` with no range): the job itself finds the partitions
that changed since its last successful run, late events included, and upserts their
features (idempotent). So a missed hour needs no catch-up run: the next one covers it.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from sensorwatch.runtime.scheduling import TAGS, default_args, spark_task

with DAG(
    dag_id="sensor_features",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=55),
    default_args=default_args(),
    tags=TAGS,
    doc_md=__doc__,
):
    spark_task("features", timeout=timedelta(minutes=50))
