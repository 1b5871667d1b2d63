"""sensor_forecast: hourly at a quarter past (after sensor_features has written the hour),
every sensor's forecast of the next 24 hourly means (``sensor_forecasts``, horizon long);
the short one comes with every prediction cycle.

``--at`` is the end of the run's data interval: its hour is the forecasts' issue time, so a
retry or a re-run issues the same rows. Runs never overlap; a missed hour is skipped
(catchup off).
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from sensorwatch.runtime.scheduling import TAGS, default_args, spark_task

AT = "{{ (data_interval_end or dag_run.run_after).isoformat() }}"

with DAG(
    dag_id="sensor_forecast",
    schedule="15 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=2)),
    tags=TAGS,
    doc_md=__doc__,
):
    spark_task("forecast", ["--at", AT], timeout=timedelta(minutes=30))
