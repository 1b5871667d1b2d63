# The two commands: `make demo` (whole pipeline on embedded services) and `make test`.
# Each does its own setup, idempotently, on a fresh Debian 12 machine.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench services-up services-down clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

# The suite in the jobs environment, then the DAG tests in the Airflow one (tests/dags; its
# own conftest only: the jobs' fixtures import what the Airflow environment does not have).
test: setup
	$(VENV)/bin/pytest
	.venv-airflow/bin/pytest tests/dags --confcutdir=tests/dags

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/features.py
	$(PY) bench/model.py
	$(PY) bench/predict.py

services-up: setup
	$(VENV)/bin/sensorwatch services up

services-down:
	$(VENV)/bin/sensorwatch services down

clean: services-down
	rm -rf var
