"""The Spark bulk loader: a DataFrame -> a table of the SQL store, merged by key.

Spark writes the rows into a staging table with pgJDBC (batched, rewritten into
multi-row INSERTs), then one ``INSERT ... SELECT ... ON CONFLICT`` merges them into the
target, and the staging table is dropped. A failure before the merge leaves the target
untouched; on PostgreSQL the merge itself is one atomic statement, on CrateDB it is
idempotent, so re-running the job completes it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from schemas import Table
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.client import (
    SqlStore,
    SqlUnavailable,
    SqlWriteFailed,
    first_line,
    retrying,
    sql_reachable,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class _StoreDown(Exception):
    """A JDBC write failed while the store was unreachable (retried)."""


def bulk_upsert(store: SqlStore, df: DataFrame, table: Table, tag: str,
                seconds: dict[str, float] | None = None) -> int:
    """``df`` (``table``'s columns) -> ``table`` via a staging table; returns the number of
    rows merged. ``tag`` names the staging table (unique per run); ``seconds``, when
    given, receives the time spent writing the stage (Spark's whole computation of ``df``
    included) and merging."""
    seconds = {} if seconds is None else seconds
    stage = q.stage_table(table, tag)
    store.execute(q.drop_table(store.target, stage))
    store.execute(q.create_table(store.target, stage))
    try:
        t0 = time.monotonic()
        write_jdbc(store, df.select(*table.column_names), stage)
        store.refresh(stage)
        t1 = time.monotonic()
        merged = store.execute(q.merge_stage(store.target, table, stage))
        seconds.update(compute_and_stage=round(t1 - t0, 2), merge=round(time.monotonic() - t1, 2))
        return merged
    finally:
        try:
            store.execute(q.drop_table(store.target, stage))
        except SqlUnavailable:
            pass  # the store is gone: the run fails anyway; the stage is named after its run id


def write_jdbc(store: SqlStore, df: DataFrame, stage: Table) -> None:
    """Spark -> staging table over pgJDBC, retried by the store's policy while the store is
    unreachable (each retry empties the staging table first); a write the reachable store
    rejects fails at once."""
    conf = store.conf
    options = {"url": conf.jdbc_url, "dbtable": store.name(stage), "user": conf.user,
               "driver": "org.postgresql.Driver", "batchsize": str(conf.jdbc_batch_size)}
    if conf.password:
        options["password"] = conf.password.get_secret_value()
    attempts = 0

    def attempt() -> None:
        nonlocal attempts
        if attempts:
            store.execute(q.clear_table(store.target, stage))
        attempts += 1
        try:
            df.write.format("jdbc").options(**options).mode("append").save()
        except Exception as exc:  # Spark wraps the JDBC error in a JVM one
            if sql_reachable(store.settings):
                raise SqlWriteFailed(f"bulk write into {stage.name} failed: {first_line(exc)}") from exc
            raise _StoreDown(first_line(exc)) from exc

    retrying(attempt, retries=conf.retries, backoff_s=conf.retry_backoff_s, retry_on=(_StoreDown,),
             give_up=lambda exc, n: SqlUnavailable(f"SQL store at {conf.host}:{conf.port} unreachable during the "
                                                   f"bulk write after {n} attempt(s): {exc}"))
