"""The SQL store over the PostgreSQL wire protocol: CrateDB in production, PostgreSQL here.

One module owns connections and dialects; table DDL comes from ``schemas``.
"""

from __future__ import annotations

import time

import psycopg

from schemas import SQL_TABLES, Table, ddl
from sensorwatch.config import Settings


class SqlUnavailable(RuntimeError):
    """The SQL store could not be reached after retries."""


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
    """CREATE TABLE IF NOT EXISTS every SQL table in the configured dialect; return the DDL run."""
    statements = [ddl(t, settings.sql.dialect) for t in tables]
    with connect(settings, retries=3) as conn:
        for statement in statements:
            conn.execute(statement)
    return statements
