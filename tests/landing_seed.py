"""Seed the landing zone directly with simulated events, bypassing Kafka.

For tests and benchmarks of the jobs downstream of ingest (not part of the product): the
rows go through ingest's own ``landing_rows`` transform, so their columns and partitions
are what ingest writes.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas import SENSOR_NAMES
from schemas.time import now
from sensorwatch.config import Settings
from sensorwatch.pipeline.ingestion import landing_rows
from sensorwatch.sources.simulator import AssetSeries


def series_frame(series: list[AssetSeries]) -> pd.DataFrame:
    """Simulated series as one events frame: asset_id, event_time (UTC), seq, sensors."""
    frames = []
    for s in series:
        frame = pd.DataFrame({"asset_id": s.asset_id,
                              "event_time": pd.to_datetime(s.times_ms, unit="ms", utc=True),
                              "seq": np.arange(s.length, dtype=np.int64)})
        for name in SENSOR_NAMES:
            frame[name] = s.values[name]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def landing_frame(spark: SparkSession, events: pd.DataFrame, ingest_time: datetime,
                  topic: str = "seeded", first_offset: int = 0) -> DataFrame:
    """Events (asset_id, event_time, sensors; seq optional) -> landing rows with lineage."""
    pdf = events.reset_index(drop=True).copy()
    if "seq" not in pdf:
        pdf["seq"] = np.arange(len(pdf), dtype=np.int64)
    for name in SENSOR_NAMES:
        if name not in pdf:
            pdf[name] = np.nan
    pdf = pdf[["asset_id", "event_time", "seq", *SENSOR_NAMES]]
    df = spark.createDataFrame(pdf)
    parsed = (df.withColumn("extras", F.lit(None).cast("map<string,string>"))
              .withColumn("kafka_topic", F.lit(topic))
              .withColumn("kafka_partition", F.lit(0))
              .withColumn("kafka_offset", F.monotonically_increasing_id() + F.lit(first_offset))
              .withColumn("kafka_timestamp", F.col("event_time"))
              .withColumn("_reasons", F.array().cast("array<string>")))
    return landing_rows(parsed, ingest_time)


def seed_landing(spark: SparkSession, settings: Settings, events: pd.DataFrame,
                 ingest_time: datetime | None = None, first_offset: int = 0) -> int:
    """Append events to the landing zone as one ingest batch would; returns the row count."""
    ingest_time = ingest_time or now()
    df = landing_frame(spark, events, ingest_time, first_offset=first_offset)
    df.write.mode("append").partitionBy("date", "hour").parquet(settings.storage.landing)
    return len(events)
