"""The historical SQL endpoint (the Impala / Hive role): the landing zone's datasets as
external tables, over the HiveServer2 protocol (impyla: what Impala users use).

``ensure_tables`` executes the DDL ``schemas`` generates (``ddl(table, "hive")``) at the
profile's storage locations; ``register_partitions`` makes partitions that landed visible
(``MSCK REPAIR TABLE`` on Hive / Spark, ``ALTER TABLE ... RECOVER PARTITIONS`` on Impala);
``query`` runs one statement and returns its rows.
"""

from __future__ import annotations

import logging
import re
from contextlib import closing

from schemas import LAKE_TABLES, ddl
from schemas.errors import Unavailable
from sensorwatch.config import HistoryConf, Settings

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

log = logging.getLogger(__name__)


class HistoryUnavailable(Unavailable):
    """The HiveServer2 endpoint could not be reached or refused a statement."""


def _conf(settings: Settings) -> HistoryConf:
    if settings.history is None:
        raise HistoryUnavailable(f"profile '{settings.profile}' has no 'history' section (a HiveServer2 endpoint)")
    return settings.history


def connect(settings: Settings, database: str | None = None):
    from impala.dbapi import connect as hs2_connect

    conf = _conf(settings)
    try:
        return hs2_connect(host=conf.host, port=conf.port, auth_mechanism=conf.auth_mechanism, user=conf.user,
                           password="-" if conf.auth_mechanism == "PLAIN" else None,
                           database=database, timeout=conf.timeout_s)
    except Exception as exc:  # thrift raises transport errors of several types
        raise HistoryUnavailable(f"HiveServer2 at {conf.host}:{conf.port} unreachable: {exc}") from exc


def query(settings: Settings, sql: str, database: str | None = None) -> list[tuple]:
    with closing(connect(settings, database)) as conn, closing(conn.cursor()) as cur:
        try:
            cur.execute(sql)
            # Spark's Thrift Server describes a DDL statement's (empty) result with no columns,
            # which impyla cannot fetch: only statements that return rows are fetched
            code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
            returns_rows = code.split(None, 1)[0].upper() in ("SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN")
            return [tuple(row) for row in cur.fetchall()] if returns_rows and cur.description else []
        except Exception as exc:
            raise HistoryUnavailable(f"HiveServer2 refused: {sql.splitlines()[0][:120]}: {exc}") from exc


def locations(settings: Settings) -> dict[str, str]:
    return {"landing_events": settings.storage.landing, "quarantine_events": settings.storage.quarantine}


def ensure_tables(settings: Settings) -> list[str]:
    """CREATE DATABASE / EXTERNAL TABLE IF NOT EXISTS, then register what already landed."""
    conf = _conf(settings)
    query(settings, f"CREATE DATABASE IF NOT EXISTS `{conf.database}`")
    where = locations(settings)
    for table in LAKE_TABLES:
        query(settings, ddl(table, "hive", location=where[table.name]), database=conf.database)
    register_partitions(settings)
    return [t.name for t in LAKE_TABLES]


def register_partitions(settings: Settings) -> None:
    conf = _conf(settings)
    for table in LAKE_TABLES:
        statement = (f"ALTER TABLE `{table.name}` RECOVER PARTITIONS" if conf.engine == "impala"
                     else f"MSCK REPAIR TABLE `{table.name}`")
        query(settings, statement, database=conf.database)


def add_partitions(settings: Settings, table: str, partitions: list[tuple[str, int]]) -> None:
    """``ALTER TABLE t ADD IF NOT EXISTS PARTITION (date=.., hour=..) ...``: the partitions one
    ingest batch wrote (at the table's location, ``date=D/hour=H``: Hive's own layout)."""
    conf = _conf(settings)
    for d, _ in partitions:  # HiveQL takes no parameters: the values go into the text, so check them
        if not _DATE.fullmatch(str(d)):
            raise ValueError(f"not a partition date (yyyy-MM-dd): {d!r}")
    specs = " ".join(f"PARTITION (`date`='{d}', `hour`={int(h)})" for d, h in partitions)
    query(settings, f"ALTER TABLE `{table}` ADD IF NOT EXISTS {specs}", database=conf.database)
