# The two commands: `make demo` (whole pipeline on embedded services) and `make test`.
# Each does its own setup, idempotently, on a fresh Debian 12 machine.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test unit lint lock bench services-up services-down clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

# The suite in the jobs environment, then the DAG tests in the Airflow one (tests/dags; its
# own conftest only: the jobs' fixtures import what the Airflow environment does not have).
test: setup
	$(VENV)/bin/pytest
	.venv-airflow/bin/pytest tests/dags --confcutdir=tests/dags

# The tests that need no service (the `unit` marker, set in tests/conftest.py): minutes.
unit: setup
	$(VENV)/bin/pytest -m unit

# Style and errors (ruff), types (mypy), and the layer contracts (import-linter; pyproject.toml).
LINTED := sensorwatch models features schemas tests bench jobs airflow_dags
lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Re-pin the transitive dependencies of both environments after a change to pyproject.toml.
lock:
	$(VENV)/bin/uv pip freeze --python $(VENV)/bin/python --exclude-editable > constraints.txt
	$(VENV)/bin/uv pip freeze --python .venv-airflow/bin/python --exclude-editable > constraints-airflow.txt
	$(VENV)/bin/uv pip freeze --python .venv-superset/bin/python > constraints-superset.txt

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/first_batch.py --warm-up
	$(PY) bench/features_run.py
	$(PY) bench/model.py
	$(PY) bench/scorers.py
	$(PY) bench/predict.py

services-up: setup
	$(VENV)/bin/sensorwatch services up

services-down:
	$(VENV)/bin/sensorwatch services down

clean: services-down
	rm -rf var
