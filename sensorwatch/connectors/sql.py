"""The SQL store over the PostgreSQL wire protocol: CrateDB in production, PostgreSQL here.

This module owns connections, retries, dialect differences and every statement the
project runs on the store; table DDL comes from ``schemas``. The differences between the
two dialects that matter here:

* DDL types and CrateDB's CLUSTERED/PARTITIONED/WITH clauses (``schemas.ddl``);
* CrateDB has no transactions and makes writes visible to queries only after a refresh
  (``REFRESH TABLE``), so bulk loads are staged, refreshed, then merged;
* both accept ``INSERT ... ON CONFLICT (key) DO UPDATE SET c = excluded.c``: the merge.

Bulk writes (``bulk_upsert``): Spark writes the rows into a staging table with pgJDBC
(batched, rewritten into multi-row INSERTs), then one ``INSERT ... SELECT ... ON CONFLICT``
merges them into the target, and the staging table is dropped. A failure before the merge
leaves the target untouched; on PostgreSQL the merge itself is one atomic statement, on
CrateDB it is idempotent, so re-running the job completes it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

from schemas import SQL_TABLES, Table, ddl, qualified, sql_type
from sensorwatch.config import Settings


class SqlUnavailable(RuntimeError):
    """The SQL store could not be reached after retries."""


class SqlWriteFailed(RuntimeError):
    """The SQL store rejected a write (reachable, but the statement failed)."""


def connect(settings: Settings, *, retries: int = 0, backoff_s: float = 0.5,
            connect_timeout_s: int = 5) -> psycopg.Connection:
    """Autocommit connection (CrateDB has no transactions), retried with exponential backoff."""
    sql = settings.sql
    password = sql.password.get_secret_value() if sql.password else None
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            return psycopg.connect(host=sql.host, port=sql.port, dbname=sql.database, user=sql.user,
                                   password=password, autocommit=True, connect_timeout=connect_timeout_s)
        except psycopg.OperationalError as exc:
            last = exc
            if attempt < retries:
                time.sleep(backoff_s * 2 ** attempt)
    raise SqlUnavailable(f"SQL store at {sql.host}:{sql.port}/{sql.database} unreachable after "
                         f"{retries + 1} attempt(s): {str(last).strip()}")


def sql_reachable(settings: Settings) -> bool:
    try:
        with connect(settings, connect_timeout_s=2) as conn:
            conn.execute("SELECT 1")
        return True
    except SqlUnavailable:
        return False


def create_tables(settings: Settings, tables: tuple[Table, ...] = SQL_TABLES) -> list[str]:
    return SqlStore(settings).create_tables(tables)


class SqlStore:
    """Statements on the configured store, in its dialect and schema, with retries.

    ``connect_fn`` exists for one test: rendering CrateDB statements where no CrateDB
    server can run, to validate them with ``cratedb-sqlparse``.
    """

    def __init__(self, settings: Settings, connect_fn: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self.conf = settings.sql
        self.dialect = settings.sql.dialect
        self._connect = connect_fn or (lambda: connect(settings, retries=self.conf.retries,
                                                       backoff_s=self.conf.retry_backoff_s))

    # -- names and statements (pure) -------------------------------------------------
    def name(self, table: Table | str) -> str:
        return qualified(table if isinstance(table, str) else table.name, self.dialect, self.conf.schema_)

    def table_ddl(self, table: Table) -> str:
        return ddl(table, self.dialect, shards=self.conf.shards, replicas=self.conf.replicas,
                   schema=self.conf.schema_)

    @staticmethod
    def column_list(names: Iterable[str]) -> str:
        """``"a", "b", ...``: quoted column names for a statement."""
        return ", ".join(f'"{c}"' for c in names)

    def upsert_statement(self, table: Table, source: str) -> str:
        """Insert the table's columns from ``source`` (``VALUES (...)`` or a SELECT), updating
        existing rows on a key conflict."""
        keys = set(table.primary_key)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in table.column_names if c not in keys)
        return (f"INSERT INTO {self.name(table)} ({self.column_list(table.column_names)}) {source} "
                f"ON CONFLICT ({self.column_list(table.primary_key)}) DO UPDATE SET {updates}")

    def values_upsert(self, table: Table) -> str:
        return self.upsert_statement(table, "VALUES (" + ", ".join(["%s"] * len(table.column_names)) + ")")

    def merge_statement(self, target: Table, stage: Table) -> str:
        return self.upsert_statement(target, f"SELECT {self.column_list(target.column_names)} FROM {self.name(stage)}")

    def drop_statement(self, table: Table) -> str:
        return f"DROP TABLE IF EXISTS {self.name(table)}"

    def clear_statement(self, table: Table) -> str:
        return f"DELETE FROM {self.name(table)}"

    def stage_table(self, target: Table, tag: str) -> Table:
        """A keyless, unpartitioned copy of ``target`` to bulk-load into."""
        return dataclasses.replace(target, name=f"{target.name}_stage_{tag}", fields=target.all_fields,
                                   partition_by=(), primary_key=(), clustered_by=None)

    # -- execution -------------------------------------------------------------------
    def execute(self, statement: str, params: Iterable[Any] | None = None) -> int:
        """Run one statement; returns the affected row count."""
        return self._run(statement, params, fetch=False)

    def query(self, statement: str, params: Iterable[Any] | None = None) -> list[tuple]:
        return self._run(statement, params, fetch=True)

    def execute_many(self, statement: str, rows: list[list[Any]]) -> None:
        """Run one statement for each parameter row, over one connection."""
        if rows:
            self._run(statement, rows, fetch=False, many=True)

    def _run(self, statement: str, params: Iterable[Any] | None, fetch: bool, many: bool = False) -> Any:
        """Every statement here is idempotent, so a dropped connection is retried too."""
        attempts = self.conf.retries + 1
        for attempt in range(attempts):
            try:
                with self._connect() as conn:
                    if many:
                        conn.cursor().executemany(statement, [tuple(p) for p in params])
                        return None
                    cur = conn.execute(statement, tuple(params) if params is not None else None)
                    return cur.fetchall() if fetch else cur.rowcount
            except psycopg.OperationalError as exc:
                if attempt + 1 == attempts:
                    raise SqlUnavailable(f"SQL store failed {attempts} time(s): {str(exc).strip()}") from exc
                time.sleep(self.conf.retry_backoff_s * 2 ** attempt)
            except psycopg.Error as exc:
                raise SqlWriteFailed(f"{type(exc).__name__}: {str(exc).strip()}") from exc
        raise AssertionError("unreachable")

    def create_tables(self, tables: tuple[Table, ...] = SQL_TABLES) -> list[str]:
        """CREATE TABLE IF NOT EXISTS each table, then add columns declared since it was
        created (new nullable fields); returns the statements run."""
        statements = []
        for table in tables:
            statements.append(self.table_ddl(table))
            self.execute(statements[-1])
            existing = {r[0] for r in self.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                (self.conf.schema_, table.name))}
            for f in table.all_fields:
                if existing and f.name not in existing:
                    statements.append(f'ALTER TABLE {self.name(table)} ADD COLUMN "{f.name}" '
                                      f"{sql_type(f.kind, self.dialect)}")
                    self.execute(statements[-1])
        return statements

    def refresh(self, table: Table | str) -> None:
        """CrateDB: make recent writes visible to queries. PostgreSQL: nothing to do."""
        if self.dialect == "cratedb":
            self.execute(f"REFRESH TABLE {self.name(table)}")

    def upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Upsert a few rows (run records and the like) by the table's primary key."""
        self.execute_many(self.values_upsert(table), [[row.get(c) for c in table.column_names] for row in rows])
        self.refresh(table)

    def delete_statement(self, table: Table) -> str:
        """Delete one row by its full primary key."""
        return f"DELETE FROM {self.name(table)} WHERE " + " AND ".join(f'"{c}" = %s' for c in table.primary_key)

    def delete_keys(self, table: Table, keys: list[tuple]) -> None:
        self.execute_many(self.delete_statement(table), [list(k) for k in keys])
        self.refresh(table)

    # -- the BI layer ----------------------------------------------------------------
    def create_views(self) -> list[str]:
        """CREATE OR REPLACE the BI views (``schemas.views``); returns the statements run."""
        from schemas.views import VIEWS, view_sql

        statements = [view_sql(v, self.dialect, self.conf.schema_) for v in VIEWS]
        for statement in statements:
            self.execute(statement)
        return statements

    def read_only_role_statements(self, role: str, password: str | None, exists: bool) -> list[str]:
        """Statements that give ``role`` (a login) read access to every table and view of
        the schema and nothing else: PostgreSQL grants SELECT (also on tables created
        later), CrateDB grants DQL on the schema."""
        quoted, schema = f'"{role}"', f'"{self.conf.schema_}"'
        secret = "'" + password.replace("'", "''") + "'" if password else None
        if self.dialect == "cratedb":
            create = [] if exists else [f"CREATE USER {quoted}" + (f" WITH (password = {secret})" if secret else "")]
            return [*create, f"GRANT DQL ON SCHEMA {schema} TO {quoted}"]
        create = [] if exists else [f"CREATE ROLE {quoted} LOGIN" + (f" PASSWORD {secret}" if secret else "")]
        return [*create, f"GRANT USAGE ON SCHEMA {schema} TO {quoted}",
                f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {quoted}",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {quoted}"]

    def create_read_only_role(self, role: str, password: str | None = None) -> list[str]:
        users = "SELECT 1 FROM sys.users WHERE name = %s" if self.dialect == "cratedb" else \
            "SELECT 1 FROM pg_roles WHERE rolname = %s"
        statements = self.read_only_role_statements(role, password, exists=bool(self.query(users, (role,))))
        for statement in statements:
            self.execute(statement)
        return statements

    def max_per(self, table: Table, group: str, value: str) -> list[tuple]:
        """``(group, max(value))`` for each group of ``table``."""
        return self.query(f'SELECT "{group}", max("{value}") FROM {self.name(table)} GROUP BY "{group}"')

    def bulk_upsert(self, df, table: Table, tag: str, seconds: dict[str, float] | None = None) -> int:
        """Spark DataFrame (``table``'s columns) -> ``table``, via a staging table; returns the
        number of rows merged. ``tag`` names the staging table (unique per run); ``seconds``,
        when given, receives the time spent writing the stage (Spark's whole computation of
        ``df`` included) and merging."""
        seconds = {} if seconds is None else seconds
        stage = self.stage_table(table, tag)
        self.execute(self.drop_statement(stage))
        self.execute(self.table_ddl(stage))
        try:
            t0 = time.monotonic()
            self._write_jdbc(df.select(*table.column_names), stage)
            self.refresh(stage)
            t1 = time.monotonic()
            merged = self.execute(self.merge_statement(table, stage))
            seconds.update(compute_and_stage=round(t1 - t0, 2), merge=round(time.monotonic() - t1, 2))
            return merged
        finally:
            try:
                self.execute(self.drop_statement(stage))
            except SqlUnavailable:
                pass  # the store is gone: the run fails anyway; the stage is named after its run id

    def _write_jdbc(self, df, stage: Table) -> None:
        """Spark -> staging table over pgJDBC. Retried with backoff while the store is
        unreachable (each attempt empties the staging table first)."""
        conf = self.conf
        options = {"url": conf.jdbc_url, "dbtable": self.name(stage), "user": conf.user,
                   "driver": "org.postgresql.Driver", "batchsize": str(conf.jdbc_batch_size)}
        if conf.password:
            options["password"] = conf.password.get_secret_value()
        for attempt in range(conf.retries + 1):
            if attempt:
                self.execute(self.clear_statement(stage))
            try:
                df.write.format("jdbc").options(**options).mode("append").save()
                return
            except Exception as exc:  # noqa: BLE001 - Spark wraps the JDBC error in a JVM one
                if sql_reachable(self.settings):
                    raise SqlWriteFailed(f"bulk write into {stage.name} failed: {_first_line(exc)}") from exc
                if attempt == conf.retries:
                    raise SqlUnavailable(f"SQL store at {conf.host}:{conf.port} unreachable during the bulk "
                                         f"write after {attempt + 1} attempt(s): {_first_line(exc)}") from exc
                time.sleep(conf.retry_backoff_s * 2 ** attempt)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
