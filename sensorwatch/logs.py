"""Logging, configured once per process by the CLI (every job goes through ``cli.main``).

Library code only calls ``logging.getLogger(__name__)``; this sets where records go: one
line each on stderr (stdout stays for the command's own output, e.g. a job's JSON
summary). ``SENSORWATCH_LOG_LEVEL`` (default INFO) sets the level of our loggers; the
libraries we drive (py4j, MLflow, urllib3, ...) stay at WARNING.
"""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
OURS = ("sensorwatch", "models", "features", "schemas")
# Never below WARNING, whatever the root logger's level: py4j logs at DEBUG every command it
# sends to the JVM, option values included, so a JDBC password would reach the logs (found
# by tests/test_predict_job.py's secrets test with the root logger at DEBUG).
QUIET = ("py4j",)
_configured = False


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (a test harness or a
    notebook may swap it after logging was configured)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure(level: str | None = None) -> None:
    """Idempotent: a second call (a job calling main twice, tests) changes nothing."""
    global _configured
    if _configured:
        return
    handler = _Stderr()
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OURS:
        logging.getLogger(name).setLevel((level or os.environ.get("SENSORWATCH_LOG_LEVEL", "INFO")).upper())
    quiet_libraries()
    logging.captureWarnings(True)
    _configured = True


def quiet_libraries() -> None:
    """``QUIET`` at WARNING (also where the CLI did not configure logging: a notebook, a
    test); ``sensorwatch.spark.get_spark`` calls it."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
