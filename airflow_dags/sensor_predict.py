"""sensor_predict: every ``predict.interval_s`` (3 min), score the interval that ended
``predict.lateness_s`` ago (by then the ingest stream has landed its events).

``--at`` is the run's time (the end of its data interval), so a retry or a re-run scores the same
intervals and writes the same rows (replay-safe). Runs never overlap; a run that misses its
slot is skipped, not queued (catchup off): score a gap with sensor_backfill.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from sensorwatch.runtime.scheduling import TAGS, default_args, settings, spark_task

EVERY = timedelta(seconds=settings().predict.interval_s)
# The end of the run's interval; manual runs (no logical date) score up to when they run.
AT = "{{ (data_interval_end or dag_run.run_after).isoformat() }}"

with DAG(
    dag_id="sensor_predict",
    schedule=EVERY,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=3 * EVERY,
    default_args=default_args(retries=1, retry_delay=timedelta(seconds=20)),
    tags=TAGS,
    doc_md=__doc__,
):
    spark_task("predict", ["--at", AT], timeout=2 * EVERY)
