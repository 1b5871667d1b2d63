"""The DAG tests' setup, imported first by test_dags.py (Airflow reads its environment at import): they
run in the Airflow environment (.venv-airflow), with an Airflow home of their
own (SQLite metadata database, created once per session). The jobs the DAGs submit run in
the jobs environment (.venv): its bin/ holds spark-submit, and tests.scoring_setup prepares
their data there."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from sensorwatch.runtime.submit import jobs_python  # light: config + submit only

REPO = Path(__file__).resolve().parents[2]
JOBS_BIN = jobs_python().parent
DAGS = REPO / "airflow_dags"

AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.update({
    "AIRFLOW_HOME": AIRFLOW_HOME,
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "SENSORWATCH_PROFILE": "local",
})


@pytest.fixture(scope="session")
def airflow_db():
    """`airflow db migrate` into the session's Airflow home (SQLite, ~5 s)."""
    subprocess.run([str(REPO / ".venv-airflow" / "bin" / "airflow"), "db", "migrate"], check=True,
                   capture_output=True, env=os.environ)
    yield AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def scoring_setup(*args: str, **kw) -> subprocess.CompletedProcess:
    """``python -m tests.scoring_setup ...`` in the jobs environment."""
    return subprocess.run([str(jobs_python()), "-m", "tests.scoring_setup", *args], cwd=REPO, check=True,
                          capture_output=True, text=True, **kw)
