"""Extract: the landing zone's events that a job needs, partition-pruned (features and predict).

A ``Span`` is a range of feature rows to (re)compute for one asset or all; its input is
the events of the span widened by the features' rolling lookback (``lookback_s``), read
only from the landing partitions (date, hour) that hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas import LANDING_EVENTS
from schemas.features import FeatureSpec, Selection
from sensorwatch.config import Settings

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Span:
    """Recompute the rows of ``asset_id`` (None: every asset) with interval_start in [start, end)."""

    asset_id: str | None
    start: datetime
    end: datetime


def dirty_spans(blocks: list[tuple[str, datetime]], spec: FeatureSpec) -> list[Span]:
    """(asset, hour) blocks that received events -> merged spans of rows to recompute: each
    block plus the K-1 intervals after it; spans of one asset whose inputs would overlap
    are merged, so every event is read for at most one span."""
    lookback = timedelta(seconds=spec.lookback_s)
    spans: list[Span] = []
    for asset, hour in sorted(set(blocks)):
        start, end = hour, hour + HOUR + lookback
        last = spans[-1] if spans else None
        if last and last.asset_id == asset and start - lookback <= last.end:
            spans[-1] = Span(asset, last.start, max(last.end, end))
        else:
            spans.append(Span(asset, start, end))
    return spans


def landing_hours(spans: list[Span], spec: FeatureSpec, selection: Selection | None = None) -> list[str]:
    """Landing partitions ('yyyy-MM-ddTHH') holding the input of ``spans`` (lookback of
    ``selection``'s columns, default all, included)."""
    hours: set[str] = set()
    for span in spans:
        hour = (span.start - timedelta(seconds=spec.lookback_for(selection))).replace(minute=0, second=0,
                                                                                       microsecond=0)
        while hour < span.end:
            hours.add(hour.strftime("%Y-%m-%dT%H"))
            hour += HOUR
    return sorted(hours)


def read_landing(spark: SparkSession, settings: Settings) -> DataFrame | None:
    """The landing zone with its declared schema (None before anything landed). Columns a
    file lacks read as null, columns the schema does not declare are not read: schema drift
    in the files never breaks the job, and unknown wire fields stay in ``extras``."""
    try:
        return spark.read.schema(LANDING_EVENTS.spark_schema()).parquet(settings.storage.landing)
    except Exception as exc:  # Spark raises AnalysisException for a missing path
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
            return None
        raise


def events_for(landing: DataFrame, spans: list[Span], spec: FeatureSpec,
               selection: Selection | None = None) -> DataFrame:
    """The events needed to compute ``spans``' rows (all columns, or ``selection``'s):
    partition-pruned, then each span's range widened by the columns' lookback."""
    hour_key = F.concat_ws("T", "date", F.lpad(F.col("hour").cast("string"), 2, "0"))
    events = landing.where(hour_key.isin(landing_hours(spans, spec, selection)))
    return _within(events, "event_time", spans, widen=timedelta(seconds=spec.lookback_for(selection)))


def keep_planned(rows: DataFrame, spans: list[Span]) -> DataFrame:
    """Only the rows the spans recompute (the lookback rows were input, not output)."""
    return _within(rows, "interval_start", spans)


def _within(df: DataFrame, time_col: str, spans: list[Span], widen: timedelta = timedelta(0)) -> DataFrame:
    """Rows whose ``time_col`` is in a span (start moved ``widen`` earlier) of their asset:
    a filter when spans cover every asset, else a broadcast join on the asset."""
    t = F.col(time_col)
    if all(s.asset_id is None for s in spans):
        cond = F.lit(False)
        for s in spans:
            cond = cond | ((t >= F.lit(s.start - widen)) & (t < F.lit(s.end)))
        return df.where(cond)
    ranges = df.sparkSession.createDataFrame([(s.asset_id, s.start - widen, s.end) for s in spans],
                                             "asset_id string, _start timestamp, _end timestamp")
    return (df.join(F.broadcast(ranges), "asset_id")
            .where((t >= F.col("_start")) & (t < F.col("_end"))).drop("_start", "_end"))


def unknown_fields(events: DataFrame) -> dict[str, int]:
    """Schema drift on the wire: how many events carried each undeclared field."""
    rows = (events.where(F.col("extras").isNotNull())
            .select(F.explode(F.map_keys("extras")).alias("field")).groupBy("field").count().collect())
    return {r["field"]: r["count"] for r in sorted(rows, key=lambda r: r["field"])}
