"""sensor_retrain: daily, a new model version from the newest ``model.train_hours`` of features.

The train job registers the version in MLflow, then gates it on the held-back newest part
of each asset's data against the current champion, and moves the ``champion`` alias only
when the new version is not worse (``model.promotion_tolerance``). The next sensor_predict
run picks the champion up; ``sensorwatch model rollback`` undoes a promotion.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from sensorwatch.runtime.scheduling import TAGS, default_args, spark_task

with DAG(
    dag_id="sensor_retrain",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,  # one model from the newest data, not one per missed day
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=10)),
    tags=TAGS,
    doc_md=__doc__,
):
    spark_task("train", timeout=timedelta(hours=3))
