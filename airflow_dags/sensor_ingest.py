"""sensor_ingest: keeps the landing zone current.

Every ``predict.interval_s`` (3 min), an ``availableNow`` catch-up: the ingest stream reads
everything Kafka holds past its checkpoint, lands it on HDFS (quarantine included) and
stops. Exactly-once through the checkpoint, so a retry or an overlap-free rerun lands
nothing twice. Where the stream runs continuously instead (``--trigger processingTime`` as
a long-running YARN application), pause this DAG: both would use one checkpoint.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from sensorwatch.runtime.scheduling import TAGS, default_args, settings, spark_task

EVERY = timedelta(seconds=settings().predict.interval_s)

with DAG(
    dag_id="sensor_ingest",
    schedule=EVERY,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,  # a catch-up run reads everything new: one run covers any missed ones
    max_active_runs=1,  # two streams must never share the checkpoint
    dagrun_timeout=4 * EVERY,
    default_args=default_args(retries=3, retry_delay=timedelta(seconds=30)),
    tags=TAGS,
    doc_md=__doc__,
):
    spark_task("ingest", ["--trigger", "availableNow"], timeout=3 * EVERY)
