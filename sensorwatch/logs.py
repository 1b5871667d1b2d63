"""Logging, configured once per process by the CLI (every job goes through ``cli.main``).

Library code only calls ``logging.getLogger(__name__)``; this sets where records go: one
line each on stderr (stdout stays for the command's own output, e.g. a job's JSON
summary). ``SENSORWATCH_LOG_LEVEL`` (default INFO) sets the level of our loggers; the
libraries we drive (py4j, urllib3, ...) stay at WARNING, the chatty ones (TensorFlow,
MLflow) at ERROR, and native start-up output goes to a log file (``native_output``);
``SENSORWATCH_VERBOSE=1`` shows it all.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

from models.stderr import ENV as NATIVE_LOG

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
OURS = ("sensorwatch", "models", "features", "schemas")
# Never below WARNING, whatever the root logger's level: py4j logs at DEBUG every command it
# sends to the JVM, option values included, so a JDBC password would reach the logs (found
# by tests/test_predict_job.py's secrets test with the root logger at DEBUG).
QUIET = ("py4j",)
# Libraries whose warnings are start-up chatter to a user (TensorFlow's retracing notes,
# MLflow's advice on how models are logged): ERROR unless SENSORWATCH_VERBOSE is set.
CHATTY = ("tensorflow", "absl", "keras", "mlflow", "librdkafka")
VERBOSE = "SENSORWATCH_VERBOSE"
_configured = False


def verbose() -> bool:
    return os.environ.get(VERBOSE, "") not in ("", "0")


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
    if not verbose():
        for name in CHATTY:
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=r"mlflow(\..*)?$")
    logging.captureWarnings(True)
    _configured = True


def native_output(log_dir: Path) -> None:
    """What native libraries print on the process's stderr when they start (TensorFlow's
    C++ banner, the JVM PySpark launches: Spark's start-up WARN lines) goes to
    ``log_dir/native.log`` (``models.stderr``), unless SENSORWATCH_VERBOSE is set."""
    if verbose():
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(NATIVE_LOG, str(log_dir / "native.log"))


def quiet_libraries() -> None:
    """``QUIET`` at WARNING (also where the CLI did not configure logging: a notebook, a
    test); ``sensorwatch.runtime.spark.get_spark`` calls it."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
