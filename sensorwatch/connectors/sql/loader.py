"""The Spark bulk loader: a DataFrame -> a table of the store, upserted by key.

CrateDB has no transactions and no ``COPY FROM STDIN``, and a staging table per run is a
cluster-state change (created, then dropped). So each Spark partition writes its rows
straight into the target with ``INSERT ... ON CONFLICT (key) DO UPDATE`` over the
PostgreSQL protocol, batched (psycopg's ``executemany`` in pipeline mode: one round trip
per batch, which CrateDB runs as one bulk operation). The upsert is idempotent: a run that
failed half-way is completed by its re-run, and a replay rewrites the same rows. What a
reader must not see of an unfinished run, the views hide (they show the rows of runs whose
record says complete: ``schemas.views``). ``bench/features.py`` compares this path with the
others measured (a pgJDBC stage + merge, CrateDB's HTTP bulk endpoint).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from schemas import Table
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.client import (
    SqlStore,
    SqlUnavailable,
    SqlWriteFailed,
    connection_params,
    first_line,
    retrying,
    sql_reachable,
    store_message,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame


class _StoreDown(Exception):
    """A bulk write failed while the store was unreachable (retried)."""


class RowsRejected(Exception):
    """CrateDB skips the rows of a bulk operation it rejects (a constraint, a type) and
    reports only fewer rows written: the task fails with the first rejected row's error."""


def rejection(conn: Any, statement: str, chunk: list[tuple]) -> str | None:
    """Why the store did not write all of ``chunk``'s rows: the rows again one by one (the
    upsert is idempotent); the first error, or None when each one was written then."""
    for n, row in enumerate(chunk):
        try:
            conn.execute(statement, row)
        except Exception as exc:  # noqa: BLE001 - the store's own message is what we report
            return f"row {n + 1} of a batch of {len(chunk)} rejected: {store_message(exc)}"
    return None


def partition_writer(kwargs: dict[str, Any], statement: str, columns: list[str],
                     batch_rows: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A ``mapInArrow`` function: upserts its partition's rows in batches of ``batch_rows``
    over one connection, then yields one row: how many it wrote."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import psycopg
        import pyarrow as pa

        written = 0
        with psycopg.connect(**kwargs, autocommit=True) as conn:
            cursor = conn.cursor()
            for batch in batches:
                values = [batch.column(c).to_pylist() for c in columns]
                rows = list(zip(*values, strict=True))
                for first in range(0, len(rows), batch_rows):
                    chunk = rows[first:first + batch_rows]
                    cursor.executemany(statement, chunk)
                    if cursor.rowcount != len(chunk) and (reason := rejection(conn, statement, chunk)):
                        raise RowsRejected(reason)
                written += len(rows)
        yield pa.RecordBatch.from_pydict({"rows": [written]}, schema=pa.schema([("rows", pa.int64())]))

    return write


def worker_error(exc: BaseException) -> str:
    """The Python worker's own error line out of Spark's wrapped traceback (the rejection
    or the driver's error), else the exception's first line."""
    found = re.findall(r"^(?:\S+\.)?(?:RowsRejected|OperationalError|\w*Error_?): (.+)$", str(exc), flags=re.M)
    return found[-1] if found else first_line(exc)


def bulk_upsert(store: SqlStore, df: DataFrame, table: Table, seconds: dict[str, float] | None = None) -> int:
    """``df`` (``table``'s columns) -> ``table``, upserted by its key from the Spark
    partitions; then the table is refreshed (readable). Returns the rows written.
    ``seconds``, when given, receives the time of the write (Spark's computation of ``df``
    included) and of the refresh. Retried by the store's policy while the store is
    unreachable (a retry rewrites the same rows); a write the store rejects fails at once."""
    seconds = {} if seconds is None else seconds
    conf = store.conf
    statement = q.upsert_values(store.target, table).text()
    writer = partition_writer(connection_params(store.settings), statement, table.column_names, conf.bulk_batch_rows)
    rows = df.select(*table.column_names)

    def attempt() -> int:
        try:
            return int(rows.mapInArrow(writer, "rows long").groupBy().sum("rows").collect()[0][0] or 0)
        except Exception as exc:  # Spark wraps the worker's psycopg error in a JVM one
            if sql_reachable(store.settings):
                raise SqlWriteFailed(f"bulk upsert into {table.name} failed: {worker_error(exc)}") from exc
            raise _StoreDown(worker_error(exc)) from exc

    t0 = time.monotonic()
    written = retrying(attempt, retries=conf.retries, backoff_s=conf.retry_backoff_s, retry_on=(_StoreDown,),
                       give_up=lambda exc, n: SqlUnavailable(f"SQL store at {conf.host}:{conf.port} unreachable "
                                                             f"during the bulk write after {n} attempt(s): {exc}"))
    t1 = time.monotonic()
    store.refresh(table)
    seconds.update(write=round(t1 - t0, 2), refresh=round(time.monotonic() - t1, 2))
    return written
