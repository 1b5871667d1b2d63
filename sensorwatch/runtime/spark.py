"""The one way to get a SparkSession: master and conf from the profile, Spark's Kafka source
on the classpath."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pyspark.sql import SparkSession

from models.stderr import native_stderr
from sensorwatch import logs
from sensorwatch.config import Settings
from sensorwatch.runtime import class_archive, jvm

DAEMON_MODULE = "spark.python.daemon.module"
SCORER_ENV = "SENSORWATCH_SCORER"  # the workers' environment: which runtime the daemon imports (predict.scorer)

T = TypeVar("T")


def get_spark(settings: Settings, app_name: str = "sensorwatch", model_runtime: bool = False) -> SparkSession:
    """Build (or reuse) the session. Under spark-submit the JVM is already running: the jars
    come from its command line (``sensorwatch.runtime.submit``), and on YARN the master too.
    ``model_runtime``: the Python workers are forked from a daemon that has imported the
    scorer's runtime (``predict.scorer``: ``sensorwatch.runtime.worker_daemon``), for the jobs that score."""
    # Python workers must use this interpreter (the project's environment) unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    conf = dict(settings.spark.conf)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # PySpark starts the JVM: it maps the class archive, if any
        conf = class_archive.with_archive(conf, settings.spark.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    if model_runtime:
        builder = (builder.config(DAEMON_MODULE, "sensorwatch.runtime.worker_daemon")
                   .config(f"spark.executorEnv.{SCORER_ENV}", settings.predict.scorer))
    if settings.spark.master != "yarn":
        builder = builder.master(settings.spark.master)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # PySpark starts the JVM itself: the jars go with it
        builder = builder.config("spark.jars", jvm.job_jars(settings))
    logs.quiet_libraries()  # py4j's DEBUG records carry option values: the JDBC password
    with native_stderr():  # a JVM PySpark starts keeps it as its stderr: Spark's start-up lines go to the log
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def get_spark_while(prepare: Callable[[], T], settings: Settings, app_name: str = "sensorwatch",
                    model_runtime: bool = False) -> tuple[SparkSession, T]:
    """``get_spark``, with ``prepare`` (the job's Python side: its imports, its model's files)
    run in a second thread meanwhile. The session's start is the JVM's work, during which this
    process only waits on a socket, so the two overlap instead of following each other (on two
    cores the JVM's start is busy too: 0.5-1.5 s of a scheduled predict run's start-up, README,
    Prediction). Returns the session and what ``prepare`` returned; its exception, if any, is
    raised once the session is up."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as pool:
        prepared = pool.submit(prepare)
        spark = get_spark(settings, app_name, model_runtime)
        return spark, prepared.result()
