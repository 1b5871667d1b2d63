"""``predict --continuous``: prediction as one long-running Structured Streaming query.

For users who prefer one long-running job to an Airflow task every few minutes. A
``rate`` source only ticks the clock; the query's ``processingTime`` trigger
(``predict.interval_s``) runs, in ``foreachBatch``, the very code a scheduled run runs
(``predict_job.run_predict``), so both write the same rows (tested). What it saves is the
fixed cost of a cycle: no spark-submit, no JVM and Spark session start. Spark ends a
Python worker idle for a minute, but new ones are forked from a daemon that has imported
the scorer's runtime (``sensorwatch.runtime.worker_daemon``) and only unpack the champion
(``models.shipped.detector_for`` caches it per process and version; a promoted version is
used from the next cycle), so a cycle after idle costs what a warm one does.

Each trigger scores every whole interval from where the previous cycle stopped up to
``predict.lateness_s`` before the clock, what the ingest stream has landed by then (a slow
cycle is caught up, never skipped); the first scores the last ``predict.interval_s`` before
that, as a scheduled run does. Each cycle is a ``job_runs`` row of its own.
A cycle that fails for a reason the project explains (the store unreachable, no champion)
is logged and its span scored again by the next trigger; anything else stops the query.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession

from schemas.errors import OperationFailed, SensorwatchError
from schemas.time import TimeRange, now
from sensorwatch.config import Settings
from sensorwatch.pipeline.prediction import PredictDetails, landed_until, run_predict
from sensorwatch.pipeline.runs import RunRecord

log = logging.getLogger(__name__)


@dataclass
class Cycles:
    """The state between triggers: where the last cycle stopped, and what each cycle did."""

    settings: Settings
    clock: Callable[[], datetime] = now
    scored_until: datetime | None = None
    done: list[RunRecord[PredictDetails]] = field(default_factory=list)

    def next_span(self) -> TimeRange | None:
        """[where the last cycle stopped, the end of what has landed by the clock); None: nothing new."""
        end = landed_until(self.settings, self.clock())
        start = self.scored_until or end - timedelta(seconds=self.settings.predict.interval_s)
        return TimeRange(start, end) if start < end else None

    def __call__(self, _ticks: DataFrame, batch_id: int) -> None:
        span = self.next_span()
        if span is None:
            log.info("predict cycle %d: nothing new to score", batch_id)
            return
        try:
            summary = run_predict(_ticks.sparkSession, self.settings, span=span)
        except SensorwatchError as exc:  # the store or the model unavailable: the next trigger retries the span
            log.error("predict cycle %d failed (%s: %s); the next cycle scores %s again", batch_id,
                      type(exc).__name__, exc, span)
            return
        finally:
            release_memory()
        self.scored_until = span.end
        self.done.append(summary)
        log.info("predict cycle %d: %s %s, %s intervals scored in %s s", batch_id, summary.status, span,
                 summary.rows_out, summary.duration_s)


def release_memory() -> None:
    """Hand the heap a cycle freed back to the OS: glibc keeps freed pages in the arena of
    the thread that used them (foreachBatch calls run on py4j's callback threads), and
    PyArrow's pool (mimalloc; toPandas) keeps its own. Measured in-process, 1,000 pumps
    (bench/load.py has the 30-minute figures): ~35 MiB from glibc and ~15 from Arrow
    per cycle, both reused by the next; what grew cycle after cycle was Python's own
    heap, fragmented by a fleet-sized read (bounded now: sensorwatch.operations.events.ROWS_PER_READ)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
    pa.default_memory_pool().release_unused()


def run_continuous(spark: SparkSession, settings: Settings, *, timeout_s: float | None = None,
                   trigger_s: float | None = None, clock: Callable[[], datetime] = now,
                   max_cycles: int | None = None) -> list[RunRecord[PredictDetails]]:
    """Run prediction cycles every ``trigger_s`` (default ``predict.interval_s``) until
    ``timeout_s`` (default: forever) or ``max_cycles`` cycles that scored something; returns
    each such cycle's summary. ``clock`` is for tests and replays (each trigger's logical time)."""
    cycles = Cycles(settings, clock)
    every = trigger_s if trigger_s is not None else settings.predict.interval_s
    ticks = spark.readStream.format("rate").option("rowsPerSecond", 1).load()
    query = (ticks.writeStream.queryName("sensorwatch_predict").foreachBatch(cycles)
             .trigger(processingTime=f"{every:g} seconds").start())
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not query.awaitTermination(1):
            if max_cycles is not None and len(cycles.done) >= max_cycles:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
    except StreamingQueryException as exc:
        raise OperationFailed(f"the continuous prediction query failed: {str(exc).strip().splitlines()[0]}") from exc
    finally:
        if query.isActive:
            query.stop()
    return cycles.done
