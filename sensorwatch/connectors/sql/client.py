"""The SQL store's client: connections, the one retry policy, running ``Statement``s.

CrateDB has no transactions, so connections are autocommit, and every statement the
project runs is idempotent (upserts by key, IF [NOT] EXISTS, deletes by key): a dropped
connection is therefore retried like a refused one. Writes that the store rejects are
not retried (``SqlWriteFailed``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg

from schemas import SQL_TABLES, Table
from schemas.errors import OperationFailed, Unavailable
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.statements import Statement, Target

log = logging.getLogger(__name__)
T = TypeVar("T")


class SqlUnavailable(Unavailable):
    """The SQL store could not be reached after retries."""


class SqlWriteFailed(OperationFailed):
    """The SQL store rejected a statement (reachable, but the statement failed)."""


def retrying(attempt: Callable[[], T], *, retries: int, backoff_s: float, retry_on: tuple[type[BaseException], ...],
             give_up: Callable[[BaseException, int], BaseException]) -> T:
    """The project's one retry policy for the store: run ``attempt``; on ``retry_on`` wait
    ``backoff_s`` x 2^n and try again, ``retries`` times; then raise ``give_up(last
    error, attempts made)`` from it. Other exceptions propagate at once."""
    for n in range(retries + 1):
        try:
            return attempt()
        except retry_on as exc:
            if n == retries:
                raise give_up(exc, n + 1) from exc
            log.warning("SQL store: attempt %d of %d failed (%s); retrying in %.1f s", n + 1, retries + 1,
                        first_line(exc), backoff_s * 2 ** n)
            time.sleep(backoff_s * 2 ** n)
    raise AssertionError("unreachable")


@functools.lru_cache(512)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names, rename=True)  # a name that is no identifier (count(*)) or repeats: _<position>


def named_rows(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], Any]:
    """psycopg's row factory of ``SqlStore.query``: each row a named tuple whose fields are
    the statement's column names (give an expression an alias to read it by name)."""
    return _row_type(tuple(column.name for column in cursor.description or ()))._make


def connection_params(settings: Settings, connect_timeout_s: int = 5) -> dict[str, Any]:
    """``psycopg.connect``'s keywords for the store."""
    conf = settings.sql
    return {"host": conf.host, "port": conf.port, "dbname": conf.database, "user": conf.user,
            "password": conf.password.get_secret_value() if conf.password else None,
            "connect_timeout": connect_timeout_s}


def open_connection(settings: Settings, connect_timeout_s: int = 5) -> psycopg.Connection:
    """One autocommit connection attempt (raises psycopg.OperationalError)."""
    return psycopg.connect(**connection_params(settings, connect_timeout_s), autocommit=True)


def unreachable(settings: Settings) -> Callable[[BaseException, int], SqlUnavailable]:
    conf = settings.sql
    return lambda exc, n: SqlUnavailable(f"SQL store at {conf.host}:{conf.port}/{conf.database} unreachable "
                                         f"after {n} attempt(s): {first_line(exc)}")


def connect(settings: Settings, *, retries: int = 0, connect_timeout_s: int = 5) -> psycopg.Connection:
    """An autocommit connection, retried by the policy above."""
    return retrying(lambda: open_connection(settings, connect_timeout_s), retries=retries,
                    backoff_s=settings.sql.retry_backoff_s, retry_on=(psycopg.OperationalError,),
                    give_up=unreachable(settings))


def sql_reachable(settings: Settings) -> bool:
    try:
        with connect(settings, connect_timeout_s=2) as conn:
            conn.execute("SELECT 1")
        return True
    except SqlUnavailable:
        return False


def store_message(exc: BaseException) -> str:
    """The store's own message for an error, without the statement and the server's Java
    stack that CrateDB sends with it (its CONTEXT)."""
    primary = getattr(getattr(exc, "diag", None), "message_primary", None)
    return primary.strip().splitlines()[0] if primary and primary.strip() else first_line(exc)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class SqlStore:
    """Runs statements on the configured store, in its schema."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conf = settings.sql
        self.target = Target(self.conf.schema_, self.conf.shards, self.conf.replicas)
        self._connect = lambda: open_connection(settings)

    def name(self, table: Table | str) -> str:
        """The schema-qualified, quoted name of a table or view (for ad-hoc SQL)."""
        return self.target.table(table).as_string()

    # -- execution -------------------------------------------------------------------
    def execute(self, statement: Statement | str, params: Iterable[Any] | None = None) -> int:
        """Run one statement; returns the affected row count."""
        return self._run(statement, params, fetch=False)

    def query(self, statement: Statement | str, params: Iterable[Any] | None = None) -> list[Any]:
        """The rows, each a named tuple: fields by the statement's column names (or aliases),
        and still a tuple for unpacking and for ``pandas.DataFrame``."""
        return self._run(statement, params, fetch=True)

    def execute_many(self, statement: Statement, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row, over one connection."""
        if rows:
            self._run(statement, rows, fetch=False, many=True)

    def _run(self, statement: Statement | str, params: Iterable[Any] | None, fetch: bool, many: bool = False) -> Any:
        if isinstance(statement, Statement):
            text, params = statement.text(), statement.params if params is None else params
        else:
            text = statement

        def attempt() -> Any:
            with self._connect() as conn:
                if many:
                    conn.cursor().executemany(text, [tuple(p) for p in params or ()])
                    return None
                cur = conn.cursor(row_factory=named_rows)
                cur.execute(text, tuple(params) if params is not None else None)
                return cur.fetchall() if fetch else cur.rowcount

        try:
            return retrying(attempt, retries=self.conf.retries, backoff_s=self.conf.retry_backoff_s,
                            retry_on=(psycopg.OperationalError,), give_up=unreachable(self.settings))
        except psycopg.Error as exc:
            raise SqlWriteFailed(f"{type(exc).__name__}: {store_message(exc)}") from exc

    def run_all(self, statements: list[Statement]) -> list[Statement]:
        for statement in statements:
            self.execute(statement)
        return statements

    # -- tables, rows, views ---------------------------------------------------------
    def create_tables(self, tables: tuple[Table, ...] = SQL_TABLES) -> list[Statement]:
        """CREATE TABLE IF NOT EXISTS each table, then add columns declared since it was
        created (new nullable fields) and set a refresh interval declared since; returns
        the statements run."""
        done = []
        for table in tables:
            done.append(q.create_table(self.target, table))
            self.execute(done[-1])
            existing = {r[0] for r in self.query(q.existing_columns(self.target, table))}
            for f in table.all_fields:
                if existing and f.name not in existing:
                    done.append(q.add_column(self.target, table, f.name))
                    self.execute(done[-1])
            if table.refresh_interval_ms is not None and \
                    [r[0] for r in self.query(q.refresh_interval(self.target, table))] != [table.refresh_interval_ms]:
                done.append(q.set_refresh_interval(self.target, table, table.refresh_interval_ms))
                self.execute(done[-1])
        return done

    def create_views(self) -> list[Statement]:
        """CREATE OR REPLACE the BI views; returns the statements run."""
        return self.run_all(q.create_views(self.target))

    def with_views(self) -> SqlStore:
        """Every table and BI view in place (a no-op when they are); returns the store."""
        self.create_tables(SQL_TABLES)
        self.create_views()
        return self

    def refresh(self, table: Table | str) -> None:
        self.execute(q.refresh(self.target, table))

    def upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Upsert a few rows (run records and the like) by the table's primary key."""
        self.execute_many(q.upsert_values(self.target, table), [[row.get(c) for c in table.column_names]
                                                                 for row in rows])
        self.refresh(table)

    def delete_keys(self, table: Table, keys: list[tuple]) -> None:
        self.execute_many(q.delete_by_key(self.target, table), [list(k) for k in keys])
        self.refresh(table)

    def drop_schema(self) -> None:
        """Every view, then every table of the schema (CrateDB makes a schema with its first
        table and drops it with its last: there is no DROP SCHEMA)."""
        found = self.query(q.relations(self.target))
        for name, kind in sorted(found, key=lambda r: r[1] != "VIEW"):
            self.execute(q.drop_relation(self.target, name, kind))

    def create_read_only_login(self, role: str, password: str | None = None) -> list[Statement]:
        exists = bool(self.query(q.login_exists(self.target, role)))
        return self.run_all(q.read_only_login(self.target, role, password, exists))
