# The two commands: `make demo` (whole pipeline on embedded services) and `make test`.
# Each does its own setup, idempotently, on a fresh Debian 12 machine.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench services-up services-down clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	$(VENV)/bin/pytest

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
