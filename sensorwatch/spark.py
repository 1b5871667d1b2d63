"""The one way to get a SparkSession: master and conf from the profile, our sources registered."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from sensorwatch.config import Settings


def get_spark(settings: Settings, app_name: str = "sensorwatch") -> SparkSession:
    """Build (or reuse) the session. Under spark-submit on YARN the master comes from there."""
    # Python workers must use this interpreter (the project's environment) unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if settings.spark.master != "yarn":
        builder = builder.master(settings.spark.master)
    for key, value in settings.spark.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    register_sources(spark)
    return spark


def register_sources(spark: SparkSession) -> None:
    from sensorwatch.connectors.kafka_source import KafkaPyDataSource

    spark.dataSource.register(KafkaPyDataSource)
