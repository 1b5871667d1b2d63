"""The Airflow DAGs: they import, their schedules and task graphs are as intended, each task
submits the right job with the profile's Spark conf, and one real run of sensor_predict
(dag.test) spark-submits the prediction job in local mode against the embedded services."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.dags.airflow_setup import DAGS, JOBS_BIN, REPO, scoring_setup

pytest_plugins = ["tests.dags.airflow_setup"]  # its fixtures: airflow_db, dagbag

DAG_IDS = {"sensor_ingest", "sensor_features", "sensor_predict", "sensor_retrain", "sensor_backfill", "sensor_forecast"}
EVERY_3_MIN = timedelta(minutes=3)


def test_every_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == DAG_IDS
    for dag in dagbag.dags.values():
        assert "sensorwatch" in dag.tags and dag.doc_md and dag.max_active_runs == 1 and not dag.catchup


@pytest.mark.parametrize("dag_id, schedule", [
    ("sensor_ingest", EVERY_3_MIN), ("sensor_predict", EVERY_3_MIN),
    ("sensor_features", "0 * * * *"), ("sensor_retrain", "0 0 * * *"), ("sensor_backfill", None),
    ("sensor_forecast", "15 * * * *")])
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
    ("sensor_backfill", {"features": ["predict"], "predict": []}), ("sensor_forecast", {"forecast": []})])
def test_task_graphs(dagbag, dag_id, graph):
    dag = dagbag.dags[dag_id]
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == graph


def test_tasks_submit_their_job_with_the_profiles_conf(dagbag):
    from sensorwatch.config import load_settings
    from sensorwatch.runtime.submit import JOBS

    settings = load_settings("local")
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert type(task).__name__ == "SparkSubmitOperator" and task._conn_id == "sensorwatch_spark"
            assert task.application == str(REPO / "jobs" / JOBS[task.task_id]) and Path(task.application).is_file()
            assert task.application_args[:2] == ["--profile", "local"]
            for key, value in settings.spark.conf.items():
                assert task.conf[key] == value
            # the profile's own jars (none locally), then Spark's Kafka source from the Maven cache
            assert any("spark-sql-kafka-0-10" in j for j in task.conf["spark.jars"].split(","))
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
    # the run scored the 3 minutes that ended predict.lateness_s (the profile's: the job runs
    # with it) before its logical date: 4 pumps x 180 one-second intervals
    lateness = timedelta(seconds=yaml.safe_load((REPO / "conf" / "local.yaml").read_text())["predict"]["lateness_s"])
    assert lateness.total_seconds() > 0
    assert runs[0]["rows_out"] == 4 * 180
    assert runs[0]["range_end"].startswith((end - lateness).strftime("%Y-%m-%d %H:%M:%S"))


def _sensorwatch(*args: str) -> subprocess.CompletedProcess:
    """The project's CLI in the jobs environment."""
    return subprocess.run([str(JOBS_BIN / "sensorwatch"), *args], cwd=REPO, check=True, capture_output=True,
                          text=True, timeout=900)


def test_a_predict_dag_run_submits_to_yarn(airflow_db, scoring_data, monkeypatch):
    """The same DAG under the yarn-local profile: SparkSubmitOperator with master `yarn`
    (its Airflow connection), cluster mode, the packed environment from HDFS. YARN and the
    package are set up as a user would (`services up --with yarn`, `package --upload`), if
    the suite before this one (tests/test_yarn.py) has not left them there."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone

    import sensorwatch.runtime.scheduling as scheduling
    from tests.scoring_setup import WARMUP, at

    _sensorwatch("services", "up", "--with", "yarn")
    exports = dict(line.removeprefix("export ").split("=", 1) for line in _sensorwatch("services", "env").stdout.split("\n")
                   if line.startswith("export "))
    for name, value in {**{k: v.strip("'") for k, v in exports.items()},
                        **json.loads(scoring_data.read_text())}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SENSORWATCH_PROFILE", "yarn-local")
    archive = urllib.request.Request(
        "http://127.0.0.1:19870/webhdfs/v1/apps/sensorwatch/sensorwatch-env.tar.gz?op=GETFILESTATUS")
    try:
        urllib.request.urlopen(archive, timeout=10).close()
    except urllib.error.HTTPError:
        with tempfile.TemporaryDirectory() as out:
            _sensorwatch("package", "--for", "yarn-local", "--out", out, "--upload")
    monkeypatch.setenv("PATH", f"{JOBS_BIN}:{os.environ['PATH']}")
    monkeypatch.setenv("AIRFLOW_CONN_SENSORWATCH_SPARK", json.dumps(
        {"conn_type": "spark", "host": "yarn", "extra": {"yarn_resourcemanager_webapp_address": "http://127.0.0.1:18088"}}))
    scheduling.settings.cache_clear()  # the DAG files read the profile when parsed
    try:
        dag = DagBag(dag_folder=str(DAGS)).dags["sensor_predict"]
        task = dag.get_task("predict")
        assert task.conf["spark.pyspark.python"] == "./environment/bin/python" and task._deploy_mode == "cluster"
        assert task._yarn_track_via_rm_api  # followed through the ResourceManager's REST API
        end = at(WARMUP + 360)
        run = dag.test(logical_date=timezone.coerce_datetime(end))
    finally:
        scheduling.settings.cache_clear()
    assert run.state == "success", run
    runs = json.loads(scoring_setup("runs", str(scoring_data)).stdout)
    assert [r["status"] for r in runs] == ["succeeded"] and runs[0]["rows_out"] == 4 * 180
    apps = json.load(urllib.request.urlopen("http://127.0.0.1:18088/ws/v1/cluster/apps?states=FINISHED", timeout=10))
    mine = [a for a in apps["apps"]["app"] if a["name"] == "sensorwatch-predict" and a["finalStatus"] == "SUCCEEDED"]
    assert mine, "no successful sensorwatch-predict application on YARN"
