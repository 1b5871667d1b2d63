"""sensor_backfill: manual. Recompute features, then re-score anomalies, for a time range.

Trigger with ``start`` and ``end`` (ISO 8601, UTC; end exclusive), e.g. from the UI's
"Trigger DAG w/ config" or ``airflow dags trigger sensor_backfill -c
'{"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}'``. Both jobs upsert,
so a backfill over data already processed rewrites the same rows.
"""

from datetime import timedelta

from airflow.sdk import DAG, Param

from sensorwatch.runtime.scheduling import TAGS, default_args, spark_task

RANGE = ["--from", "{{ params.start }}", "--to", "{{ params.end }}"]

with DAG(
    dag_id="sensor_backfill",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    params={
        "start": Param(type="string", format="date-time", description="from (inclusive), ISO 8601"),
        "end": Param(type="string", format="date-time", description="to (exclusive), ISO 8601"),
    },
    default_args=default_args(retries=1),
    tags=TAGS,
    doc_md=__doc__,
):
    features = spark_task("features", RANGE, timeout=timedelta(hours=6))
    predict = spark_task("predict", RANGE, timeout=timedelta(hours=6))
    features >> predict
