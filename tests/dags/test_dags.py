"""The Airflow DAGs: they import, their schedules and task graphs are as intended, each task
submits the right job with the profile's Spark conf, and one real run of sensor_predict
(dag.test) spark-submits the prediction job in local mode against the embedded services."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from tests.dags.conftest import JOBS_BIN, REPO, scoring_setup

DAG_IDS = {"sensor_ingest", "sensor_features", "sensor_predict", "sensor_retrain", "sensor_backfill"}
EVERY_3_MIN = timedelta(minutes=3)


def test_every_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == DAG_IDS
    for dag in dagbag.dags.values():
        assert "sensorwatch" in dag.tags and dag.doc_md and dag.max_active_runs == 1 and not dag.catchup


@pytest.mark.parametrize("dag_id, schedule", [
    ("sensor_ingest", EVERY_3_MIN), ("sensor_predict", EVERY_3_MIN),
    ("sensor_features", "0 * * * *"), ("sensor_retrain", "0 0 * * *"), ("sensor_backfill", None)])
def test_schedules(dagbag, dag_id, schedule):
    timetable = dagbag.dags[dag_id].timetable
    if schedule is None:
        assert not timetable.can_be_scheduled  # manual only
    elif isinstance(schedule, timedelta):
        assert timetable.delta == schedule
    else:
        assert timetable.expression == schedule


@pytest.mark.parametrize("dag_id, graph", [
    ("sensor_ingest", {"ingest": []}), ("sensor_features", {"features": []}),
    ("sensor_predict", {"predict": []}), ("sensor_retrain", {"train": []}),
    ("sensor_backfill", {"features": ["predict"], "predict": []})])
def test_task_graphs(dagbag, dag_id, graph):
    dag = dagbag.dags[dag_id]
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == graph


def test_tasks_submit_their_job_with_the_profiles_conf(dagbag):
    from sensorwatch.config import load_settings
    from sensorwatch.submit import JOBS

    settings = load_settings("local")
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert type(task).__name__ == "SparkSubmitOperator" and task._conn_id == "sensorwatch_spark"
            assert task.application == str(REPO / "jobs" / JOBS[task.task_id]) and Path(task.application).is_file()
            assert task.application_args[:2] == ["--profile", "local"]
            for key, value in settings.spark.conf.items():
                if key == "spark.jars":  # the profile's jars, then Spark's Kafka source from the Maven cache
                    jars = task.conf[key].split(",")
                    assert jars[0] == value and any("spark-sql-kafka-0-10" in j for j in jars[1:])
                else:
                    assert task.conf[key] == value
            assert task.conf["spark.pyspark.python"] == str(REPO / ".venv" / "bin" / "python")
            assert task.execution_timeout and task.retries >= 1
    predict = dagbag.dags["sensor_predict"].get_task("predict")
    assert predict.application_args[2] == "--at" and "data_interval_end" in predict.application_args[3]
    assert predict.execution_timeout <= 2 * EVERY_3_MIN  # a stuck run frees the slot for the next
    backfill = dagbag.dags["sensor_backfill"]
    assert set(backfill.params) == {"start", "end"}
    for task in backfill.tasks:
        assert task.application_args[2:] == ["--from", "{{ params.start }}", "--to", "{{ params.end }}"]


def test_backfill_refuses_a_run_without_its_range(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    params = dagbag.dags["sensor_backfill"].params
    with pytest.raises(ParamValidationError):
        params.validate()
    params["start"], params["end"] = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"
    assert params.validate() == {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}


@pytest.fixture
def scoring_data(tmp_path):
    """4 pumps landed on HDFS and a champion, in a namespace of their own (jobs environment)."""
    out = tmp_path / "env.json"
    scoring_setup("prepare", str(out), timeout=600)
    yield out
    scoring_setup("drop", str(out))


def test_a_predict_dag_run_spark_submits_the_job_in_local_mode(airflow_db, dagbag, scoring_data, monkeypatch):
    from airflow.sdk import timezone

    from tests.scoring_setup import WARMUP, at

    for name, value in json.loads(scoring_data.read_text()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{JOBS_BIN}:{os.environ['PATH']}")  # spark-submit of the jobs environment
    monkeypatch.setenv("AIRFLOW_CONN_SENSORWATCH_SPARK", json.dumps({"conn_type": "spark", "host": "local[2]"}))
    dag = dagbag.dags["sensor_predict"]
    end = at(WARMUP + 360)
    run = dag.test(logical_date=timezone.coerce_datetime(end))
    assert run.state == "success", run
    runs = json.loads(scoring_setup("runs", str(scoring_data)).stdout)
    assert [r["status"] for r in runs] == ["succeeded"]
    # the run scored the 3 minutes before its logical date: 4 pumps x 180 one-second intervals
    assert runs[0]["rows_out"] == 4 * 180
    assert runs[0]["range_end"].startswith(end.strftime("%Y-%m-%d %H:%M:%S"))
