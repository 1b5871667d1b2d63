"""The SQL store over the PostgreSQL wire protocol: CrateDB in production, PostgreSQL here.

Three parts, one job each:

* ``client``: connections, the one retry policy, ``SqlStore`` running statements;
* ``statements``: every statement the project runs (identifiers through ``psycopg.sql``,
  values as parameters); table DDL comes from ``schemas``;
* ``loader``: the Spark bulk loader (staging table over pgJDBC, then one merge);
* ``rows``: pandas rows as plain values for the driver.

The differences between the two dialects that matter here: DDL types and CrateDB's
CLUSTERED/PARTITIONED/WITH clauses (``schemas.ddl``); CrateDB has no transactions and makes
writes visible to queries only after ``REFRESH TABLE``; both accept ``INSERT ... ON
CONFLICT (key) DO UPDATE SET c = excluded.c``, the merge.
"""

from sensorwatch.connectors.sql.client import SqlStore, SqlUnavailable, SqlWriteFailed, connect, sql_reachable
from sensorwatch.connectors.sql.loader import bulk_upsert
from sensorwatch.connectors.sql.rows import plain, records

__all__ = ["SqlStore", "SqlUnavailable", "SqlWriteFailed", "bulk_upsert", "connect", "plain", "records",
           "sql_reachable"]
