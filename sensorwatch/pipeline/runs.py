"""Run records: each job run is a row in ``job_runs`` (the start of monitoring).

``recorded_run`` writes the row as ``running`` when the job starts and again when it ends:
``succeeded``, ``noop`` (nothing to do) or ``failed`` with the error. Incremental jobs keep
their state there too: the ``watermark`` of their last successful run.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from schemas import JOB_RUNS
from schemas.time import TimeRange, now
from sensorwatch.connectors.sql import SqlStore, SqlUnavailable
from sensorwatch.connectors.sql import statements as q

log = logging.getLogger(__name__)


@dataclass
class Details:
    """A job's own figures in its run record, typed per job (``FeaturesDetails``,
    ``PredictDetails``, ...); stored in ``job_runs.details`` as JSON."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


D = TypeVar("D", bound=Details)


@dataclass
class RunRecord(Generic[D]):
    """One run of a job: its ``job_runs`` row, typed, and the job's own ``details``. The job
    fills it while it runs and returns a copy (``summary``): every job returns this type."""

    job: str
    details: D
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=now)
    finished_at: datetime | None = None
    status: str = "running"
    range_start: datetime | None = None
    range_end: datetime | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    rows_rejected: int | None = None
    late_rows: int | None = None
    duration_s: float | None = None
    error: str | None = None
    watermark: datetime | None = None

    def row(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in JOB_RUNS.column_names}
        values["details"] = json.dumps(self.details.to_json(), sort_keys=True, default=str)
        return values

    def covering(self, span: TimeRange | None) -> None:
        self.range_start, self.range_end = (span.start, span.end) if span else (None, None)

    def summary(self) -> RunRecord[D]:
        """A copy of the record as written (the value a job function returns)."""
        return dataclasses.replace(self, details=copy.deepcopy(self.details))

    def to_json(self) -> dict[str, Any]:
        """For printing (the CLI's last line); times as ISO text via ``default=str``."""
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "details"},
                "details": self.details.to_json()}


@contextmanager
def recorded_run(store: SqlStore, job: str, details: D) -> Iterator[RunRecord[D]]:
    """Record one run of ``job``. The body fills in counts and ``details``; set ``status =
    "noop"`` when there was nothing to do. An exception marks the run failed and propagates."""
    record = RunRecord(job, details)
    store.upsert(JOB_RUNS, [record.row()])
    started = time.monotonic()
    failure: BaseException | None = None
    try:
        yield record
    except BaseException as exc:
        failure = exc
        record.status, record.error = "failed", f"{type(exc).__name__}: {exc}"[:4000]
        raise
    finally:
        if record.status == "running":
            record.status = "succeeded"
        record.finished_at = now()
        record.duration_s = round(time.monotonic() - started, 3)
        try:
            store.upsert(JOB_RUNS, [record.row()])
        except SqlUnavailable as exc:
            if failure is None:
                raise
            log.error("could not record the failed run %s: %s", record.run_id, exc)


def last_watermark(store: SqlStore, job: str) -> tuple[datetime, dict[str, Any]] | None:
    """The watermark and details of the newest successful incremental run of ``job``."""
    rows = store.query(q.last_watermark(store.target, job))
    if not rows:
        return None
    return rows[0].watermark, json.loads(rows[0].details) if rows[0].details else {}


def recent_runs(store: SqlStore, last: int = 10) -> list[Any]:
    """The ``last`` runs of every job, newest first (empty before the first run): named
    rows with the ``job_runs`` columns."""
    store.create_tables((JOB_RUNS,))
    return store.query(q.recent_runs(store.target, last))
