"""The Spark bulk loader: a DataFrame -> a table of the store, upserted by key.

CrateDB has no transactions and no ``COPY FROM STDIN``, and a staging table per run is a
cluster-state change (created, then dropped). So each Spark partition writes its rows
straight into the target with ``INSERT ... ON CONFLICT (key) DO UPDATE``, in batches sent
to CrateDB's HTTP endpoint as bulk arguments (``/_sql`` with ``bulk_args``: one request,
one bulk operation, one result per row). The upsert is idempotent: a run that failed
half-way is completed by its re-run, and a replay rewrites the same rows. What a reader
must not see of an unfinished run, the views hide (they show the rows of runs whose
record says complete: ``schemas.views``). ``bench/features_run.py`` compares this path with
the others measured (the same statement over the PostgreSQL protocol, a pgJDBC stage +
merge).

Values travel as JSON: timestamps as epoch milliseconds (CrateDB's precision), a double
that is NaN or infinite as null. Rows CrateDB's circuit breaker refuses (its heap short for
the moment) are sent again after a growing pause; a row it rejects for itself fails the write.
"""

from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import sql

from schemas import Table
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.client import (
    SqlStore,
    SqlUnavailable,
    SqlWriteFailed,
    first_line,
    retrying,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

HTTP_TIMEOUT_S = 300  # one bulk request: a batch of rows, written
PRESSURE_RETRIES = 6  # rows refused by the store's circuit breaker: tried again after 0.5, 1, 2, 4, 8, 10 s
PRESSURE_PAUSE_S = 0.5


class _StoreDown(Exception):
    """A bulk write failed while the store was unreachable (retried)."""


class RowsRejected(Exception):
    """The store rejected rows of a bulk operation (a constraint, a type): the task fails
    with the first rejected row's own message. The other rows of the batch are written
    (CrateDB has no transactions); the upsert's re-run rewrites them."""


@dataclass(frozen=True)
class Endpoint:
    """CrateDB's HTTP endpoint as a Spark task reaches it (plain values: pickled to the task)."""

    host: str
    port: int
    authorization: str = field(repr=False)  # HTTP Basic: the user and its password (kept out of logs)

    @classmethod
    def of(cls, settings: Settings) -> Endpoint:
        conf = settings.sql
        password = conf.password.get_secret_value() if conf.password else ""
        return cls(conf.host, conf.http_port, "Basic " + base64.b64encode(f"{conf.user}:{password}".encode()).decode())

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Authorization": self.authorization}


def crate_message(text: str) -> str:
    """CrateDB's error message without its exception's name: 'SQLParseException[x]' -> 'x'."""
    found = re.fullmatch(r"\w+\[(.*)\]", text.strip(), flags=re.S)
    return (found.group(1) if found else text).strip().splitlines()[0]


def failed_rows(results: list[dict[str, Any]]) -> list[int]:
    """The positions of a bulk answer's rows that were not written."""
    return [n for n, result in enumerate(results) if result.get("rowcount") != 1]


def under_pressure(result: dict[str, Any]) -> bool:
    """Whether a row failed because the store was short of memory (CrateDB's circuit
    breaker refuses the allocation): a transient refusal, written by a later try."""
    return "CircuitBreakingException" in str(result.get("error", {}).get("message", ""))


def rejection(result: dict[str, Any], row: int, batch: int) -> str:
    """A rejected row's error as one line (``row``: its position in the batch)."""
    reason = crate_message(result.get("error", {}).get("message", f"rowcount {result.get('rowcount')}"))
    return f"row {row + 1} of a batch of {batch} rejected: {reason}"


def json_values(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """An Arrow column as JSON-ready Python values (timestamps -> epoch milliseconds)."""
    import pyarrow as pa

    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ms", column.type.tz), safe=False).cast(pa.int64())
    return column.to_pylist()


def partition_writer(endpoint: Endpoint, statement: str, columns: list[str],
                     batch_rows: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A ``mapInArrow`` function: upserts its partition's rows in bulk requests of
    ``batch_rows`` rows over one HTTP connection, then yields one row: how many it wrote."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import http.client

        import orjson
        import pyarrow as pa

        written = 0
        conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=HTTP_TIMEOUT_S)

        def post(chunk: list[tuple]) -> list[dict[str, Any]]:
            conn.request("POST", "/_sql", orjson.dumps({"stmt": statement, "bulk_args": chunk}), endpoint.headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                answer = orjson.loads(raw or b"{}")
            except orjson.JSONDecodeError:  # e.g. a refused login answers in plain text
                answer = {"error": {"message": raw.decode(errors="replace").strip() or f"HTTP {response.status}"}}
            if response.status != 200 or "error" in answer:
                error = answer.get("error", {}).get("message", f"HTTP {response.status}")
                raise RowsRejected(f"a batch of {len(chunk)} rows refused: {crate_message(error)}")
            return list(answer["results"])

        def upsert(chunk: list[tuple]) -> None:
            """The chunk's rows written, or RowsRejected. Rows that fail are sent again (the
            upsert is idempotent): once at once (a shard moving to its replica fails rows
            that a second try writes); while the store is short of memory (its circuit
            breaker), after a growing pause, up to ``PRESSURE_RETRIES`` times. A row that
            fails otherwise is rejected."""
            todo = list(range(len(chunk)))
            for attempt in range(PRESSURE_RETRIES + 1):
                results = post([chunk[n] for n in todo])
                failed = failed_rows(results)
                if not failed:
                    return
                first = results[failed[0]]
                pressure = all(under_pressure(results[n]) for n in failed)
                if attempt == PRESSURE_RETRIES or (attempt > 0 and not pressure):
                    raise RowsRejected(rejection(first, todo[failed[0]], len(chunk)))
                todo = [todo[n] for n in failed]
                if pressure:
                    time.sleep(min(PRESSURE_PAUSE_S * 2 ** attempt, 10.0))

        try:
            for batch in batches:
                rows = list(zip(*(json_values(batch.column(c)) for c in columns), strict=True))
                for first in range(0, len(rows), batch_rows):
                    chunk = rows[first:first + batch_rows]
                    upsert(chunk)
                    written += len(chunk)
        finally:
            conn.close()
        yield pa.RecordBatch.from_pydict({"rows": [written]}, schema=pa.schema([("rows", pa.int64())]))

    return write


def reachable(endpoint: Endpoint, timeout_s: float = 2.0) -> bool:
    """Whether the HTTP endpoint accepts a connection."""
    try:
        socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def worker_error(exc: BaseException) -> str:
    """The Python worker's own error line out of Spark's wrapped traceback (the rejection
    or the connection's error), else the exception's first line."""
    found = re.findall(r"^(?:\S+\.)?(?:RowsRejected|\w*Error_?): (.+)$", str(exc), flags=re.M)
    return found[-1] if found else first_line(exc)


def bulk_upsert(store: SqlStore, df: DataFrame, table: Table, seconds: dict[str, float] | None = None) -> int:
    """``df`` (``table``'s columns) -> ``table``, upserted by its key from the Spark
    partitions; then the table is refreshed (readable). Returns the rows written.
    ``seconds``, when given, receives the time of the write (Spark's computation of ``df``
    included) and of the refresh. Retried by the store's policy while the store is
    unreachable (a retry rewrites the same rows); a write the store rejects fails at once."""
    seconds = {} if seconds is None else seconds
    conf = store.conf
    statement = q.upsert_values(store.target, table, placeholder=sql.SQL("?")).text()
    endpoint = Endpoint.of(store.settings)
    writer = partition_writer(endpoint, statement, table.column_names, conf.bulk_batch_rows)
    rows = df.select(*table.column_names)

    def attempt() -> int:
        try:
            return int(rows.mapInArrow(writer, "rows long").groupBy().sum("rows").collect()[0][0] or 0)
        except Exception as exc:  # Spark wraps the worker's error in a JVM one
            if reachable(endpoint):  # up: the store refused the write (a row, a login), not an outage
                raise SqlWriteFailed(f"bulk upsert into {table.name} failed: {worker_error(exc)}") from exc
            raise _StoreDown(worker_error(exc)) from exc

    t0 = time.monotonic()
    written = retrying(attempt, retries=conf.retries, backoff_s=conf.retry_backoff_s, retry_on=(_StoreDown,),
                       give_up=lambda exc, n: SqlUnavailable(
                           f"SQL store's HTTP endpoint {conf.host}:{conf.http_port} unreachable during the bulk write "
                           f"after {n} attempt(s): {exc}"))
    t1 = time.monotonic()
    store.refresh(table)
    seconds.update(write=round(t1 - t0, 2), refresh=round(time.monotonic() - t1, 2))
    return written
