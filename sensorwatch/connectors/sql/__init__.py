"""The SQL store: CrateDB, over its PostgreSQL wire protocol.

Four parts, one job each:

* ``client``: connections, the one retry policy, ``SqlStore`` running statements;
* ``statements``: every statement the project runs (identifiers through ``psycopg.sql``,
  values as parameters); table DDL comes from ``schemas``;
* ``loader``: the Spark bulk loader (batched upserts straight from the Spark partitions);
* ``rows``: pandas rows as plain values for the driver.

What CrateDB asks of the code: no transactions (every write is an idempotent upsert or a
delete by key, connections autocommit), writes visible to queries after ``REFRESH TABLE``,
timestamps to the millisecond, rows a bulk operation rejects reported only by its count
(the loader checks it), no DROP SCHEMA (a schema goes with its last table).
"""

from sensorwatch.connectors.sql.client import SqlStore, SqlUnavailable, SqlWriteFailed, connect, sql_reachable
from sensorwatch.connectors.sql.loader import bulk_upsert
from sensorwatch.connectors.sql.rows import plain, records

__all__ = ["SqlStore", "SqlUnavailable", "SqlWriteFailed", "bulk_upsert", "connect", "plain", "records",
           "sql_reachable"]
