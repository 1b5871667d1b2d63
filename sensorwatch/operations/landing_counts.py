"""What landed: events per landing partition, quarantined events per reason (``sensorwatch landed``)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sensorwatch.config import Settings


def landed_summary(spark: SparkSession, settings: Settings) -> dict[str, Any]:
    """Counts per landing partition and per quarantine reason (empty when nothing landed)."""
    out: dict[str, Any] = {"landing": [], "quarantine": [], "landing_total": 0, "quarantine_total": 0}
    for name, path in (("landing", settings.storage.landing), ("quarantine", settings.storage.quarantine)):
        try:
            df = spark.read.parquet(path)
        except Exception as exc:  # Spark raises AnalysisException for a missing path
            if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
                continue
            raise
        if name == "landing":
            rows = (df.groupBy("date", "hour").agg(F.count("*").alias("events"),
                                                   F.countDistinct("asset_id").alias("assets"))
                    .orderBy("date", "hour").collect())
        else:
            rows = df.groupBy("reason").agg(F.count("*").alias("events")).orderBy(F.desc("events")).collect()
        out[name] = [r.asDict() for r in rows]
        out[f"{name}_total"] = sum(r["events"] for r in out[name])
    return out
