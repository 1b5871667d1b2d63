"""Features benchmark (not a test): landed raw events -> sensor_features in the SQL store.

    .venv/bin/python bench/features_run.py [--events 200000] [--assets 50] [--no-writers]

Seeds N, then 2N, simulated events into fresh landing zones on HDFS (untimed), and times
one incremental features run on each (read, compute, upsert into CrateDB). Also compares
ways of bulk-upserting the same feature rows into CrateDB (``compare_writers``), and the
two writers on the score rows' shape (``compare_score_writers``).
The last line is one JSON object with ``events_per_s`` (at 2N) and ``scaling_ratio``
(time for 2N / time for N: 2.0 is proportional, below 2 a fixed per-run cost), and the
fixed and per-event costs that the two runs imply.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg import sql
from pyspark.sql import functions as F

from features.transforms import compute_features
from schemas import ANOMALY_SCORES, SENSOR_FEATURES, SENSOR_FORECASTS, SENSOR_NAMES, Field, Kind, Table
from sensorwatch import services
from sensorwatch.config import Settings, load_settings
from sensorwatch.connectors.sql import SqlStore, SqlWriteFailed, bulk_upsert
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.client import connection_params
from sensorwatch.pipeline.extract import read_landing
from sensorwatch.pipeline.featurization import run_features
from sensorwatch.runtime.spark import get_spark
from sensorwatch.services.process import cpu_seconds
from sensorwatch.sources.simulator import simulate
from tests.landing_seed import seed_landing, series_frame

START = datetime(2026, 1, 5, tzinfo=UTC)
PGJDBC = "/usr/share/java/postgresql.jar"


def isolated(base: Settings, name: str) -> Settings:
    settings = base.with_overrides(storage={"root": f"{base.storage.root}/bench/{name}"}, sql={"schema": name})
    SqlStore(settings).drop_schema()
    return settings


def one_run(spark, base: Settings, name: str, assets: int, seconds: int) -> dict:
    settings = isolated(base, name)
    events = series_frame(simulate(assets, seconds, START, seed=5, anomalies_per_asset=0))
    seed_landing(spark, settings, events)
    t0 = time.monotonic()
    record = run_features(spark, settings)
    total = time.monotonic() - t0
    landing = read_landing(spark, settings)
    t1 = time.monotonic()
    compute_features(landing, settings.features.spec()).write.format("noop").mode("overwrite").save()
    compute = time.monotonic() - t1
    assert record.rows_in == len(events), record
    return {"events": len(events), "rows": record.rows_out, "seconds": round(total, 2),
            "compute_only_s": round(compute, 2), "events_per_s": round(len(events) / total),
            "rows_per_s": round(record.rows_out / total)}


def stage_table(target: Table, tag: str) -> Table:
    """A keyless, unpartitioned copy of ``target`` to bulk-load into (the previous path)."""
    return dataclasses.replace(target, name=f"{target.name}_stage_{tag}", fields=target.all_fields,
                               partition_by=(), primary_key=(), clustered_by=None)


def merge_stage(t: q.Target, target: Table, stage: Table) -> q.Statement:
    """The staged rows into ``target`` by its key (the previous path's merge)."""
    return q.Statement(q.upsert_from(t, target, sql.SQL("SELECT {} FROM {}").format(
        q.columns(target.column_names), t.table(stage))))


def psycopg_writer(kwargs: dict, statement: str, columns: list[str], batch_rows: int):
    """A ``mapInArrow`` function upserting its rows over the PostgreSQL protocol: psycopg's
    ``executemany`` in pipeline mode (one round trip per batch, one CrateDB bulk
    operation), checking the row count (the loader's path until measured here)."""

    def write(batches):
        import psycopg
        import pyarrow as pa

        written = 0
        with psycopg.connect(**kwargs, autocommit=True) as conn:
            cursor = conn.cursor()
            for batch in batches:
                rows = list(zip(*(batch.column(c).to_pylist() for c in columns), strict=True))
                for first in range(0, len(rows), batch_rows):
                    chunk = rows[first:first + batch_rows]
                    cursor.executemany(statement, chunk)
                    if cursor.rowcount != len(chunk):
                        raise RuntimeError(f"{len(chunk) - cursor.rowcount} rows rejected")
                written += len(rows)
        yield pa.RecordBatch.from_pydict({"rows": [written]}, schema=pa.schema([("rows", pa.int64())]))

    return write


# The same table with every column indexed (the feature values were, until measured here).
INDEXED_FEATURES = dataclasses.replace(SENSOR_FEATURES, fields=tuple(
    dataclasses.replace(f, indexed=True) for f in SENSOR_FEATURES.fields))
# One document per row with the feature values packed into one JSON text, stored only.
PACKED_KEYS = [f.name for f in SENSOR_FEATURES.all_fields if f.indexed]
PACKED_FEATURES = Table(name="sensor_features_packed", fields=(
    *(f for f in SENSOR_FEATURES.fields if f.indexed), Field("packed", Kind.STRING)),
    partition_by=SENSOR_FEATURES.partition_by, primary_key=SENSOR_FEATURES.primary_key,
    clustered_by=SENSOR_FEATURES.clustered_by)


def create(t: q.Target, table: Table) -> str:
    """The table's DDL with the store's shards and replicas (as the jobs create it); the
    packed column stored without index or column store."""
    return q.create_table(t, table).text().replace(
        '"packed" TEXT', '"packed" TEXT INDEX OFF STORAGE WITH (columnstore = false)')


def refreshed_each_s(table: Table) -> Table:
    """The same table under another name with CrateDB's periodic refresh (each second, its
    default; the result tables' declaration before 2026-12-06): their declaration has none,
    each writer refreshing at its end."""
    return dataclasses.replace(table, name=f"{table.name}_refresh_each_s", refresh_interval_ms=1000)


def cratedb_cpu_s() -> float:
    """CrateDB's JVM's CPU seconds so far (user + system), 0 where it is not found."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"io.crate.bootstrap" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return cpu_seconds(int(pid))
        except OSError:
            continue
    return 0.0


def psycopg_upsert(settings: Settings, df, table: Table) -> None:
    """``df`` into ``table`` through ``psycopg_writer`` from the Spark partitions."""
    cols = table.column_names
    statement = q.upsert_values(SqlStore(settings).target, table).text()
    writer = psycopg_writer(connection_params(settings), statement, cols, settings.sql.bulk_batch_rows)
    df.select(*cols).mapInArrow(writer, "rows long").groupBy().sum("rows").collect()


def time_writers(store: SqlStore, writers: list, rows: int, label: str) -> dict:
    """Each ``(name, table, write)`` twice into its table created afresh (the first run
    inserts, the second updates every row), refreshed and counted: seconds and rows/s, or
    why it failed (an error, or fewer rows in the table than written)."""
    out: dict = {"rows": rows}
    for name, table, write in writers:
        for old in {t.name for _, t, _ in writers}:
            store.execute(q.drop_table(store.target, old))
        store.execute(create(store.target, table))
        out[name] = {}
        for run in ("insert", "update"):
            t0, cpu0 = time.monotonic(), cratedb_cpu_s()
            try:
                write()
            except SqlWriteFailed as exc:  # e.g. the merge's INSERT ... SELECT over CrateDB's query breaker
                out[name][run] = {"failed": str(exc)[:300]}
                print(f"{label} {name} ({run}): failed: {exc}", flush=True)
                break
            store.refresh(table)
            took = time.monotonic() - t0
            (stored,), = store.query(f"SELECT count(*) FROM {store.name(table)}")
            if stored != rows:  # e.g. CrateDB's INSERT ... SELECT skipping rows it could not write
                out[name][run] = {"failed": f"{stored:,d} of {rows:,d} rows in the table after {took:.1f} s"}
                print(f"{label} {name} ({run}): failed: {out[name][run]['failed']}", flush=True)
                break
            cpu = cratedb_cpu_s() - cpu0
            out[name][run] = {"seconds": round(took, 2), "rows_per_s": round(rows / took),
                              "cratedb_cpu_s": round(cpu, 1)}
            print(f"{label} {name} ({run}): {rows:,d} rows in {took:.2f}s ({rows / took:,.0f} rows/s), "
                  f"CrateDB's CPU {cpu:.1f} s", flush=True)
    return out


def compare_writers(spark, base: Settings, assets: int, seconds: int) -> dict:
    """Seconds to upsert the same feature rows into sensor_features, each way twice (the
    first run inserts, the second updates every row: a replay), on CrateDB:

    * ``http_bulk`` (the job's path): batched ``INSERT ... ON CONFLICT`` from the Spark
      partitions to CrateDB's HTTP endpoint as bulk arguments (``connectors.sql.bulk_upsert``),
      into the table as declared: feature values not indexed;
    * ``psycopg_upsert``: the same statement over the PostgreSQL protocol, psycopg's
      ``executemany`` (the path before);
    * ``http_bulk_indexed``: the job's path into the table with every column indexed;
    * ``http_bulk_packed``: the job's path, the feature values packed into one JSON text
      column (built by Spark's ``to_json``) stored without index or column store: the
      least per-column work, at the price of a view unpacking them for every reader;
    * ``copy_from_files``: Spark writes the rows as JSON files, CrateDB's ``COPY FROM``
      reads them (``overwrite_duplicates``: a replay replaces the rows; the files must be
      readable by the CrateDB nodes, here the local one);
    * ``jdbc_stage_merge`` (the path on PostgreSQL): Spark's JDBC writer (pgJDBC, batched)
      into a staging table, ``INSERT ... SELECT ... ON CONFLICT`` into the target, the
      stage dropped.
    """
    settings = isolated(base, "bench_writers")
    seed_landing(spark, settings, series_frame(simulate(assets, seconds, START, seed=5, anomalies_per_asset=0)))
    rows = compute_features(read_landing(spark, settings), settings.features.spec()).cache()
    n = rows.count()
    store = SqlStore(settings)
    cols = SENSOR_FEATURES.column_names

    def jdbc_stage_merge() -> None:
        stage = stage_table(SENSOR_FEATURES, "bench")
        store.execute(q.drop_table(store.target, stage))
        store.execute(q.create_table(store.target, stage))
        rows.select(*cols).write.format("jdbc").options(
            url=f"jdbc:postgresql://{settings.sql.host}:{settings.sql.port}/doc?reWriteBatchedInserts=true",
            dbtable=store.name(stage), user=settings.sql.user, driver="org.postgresql.Driver",
            batchsize="10000").mode("append").save()
        store.refresh(stage)
        store.execute(merge_stage(store.target, SENSOR_FEATURES, stage))
        store.execute(q.drop_table(store.target, stage))

    def copy_from_files() -> None:
        # CrateDB reads the files itself (its node runs on this machine): a local folder
        # it may read, written by Spark's JSON writer, loaded with overwrite (idempotent).
        folder = Path(tempfile.mkdtemp(prefix="sw-copy-"))
        folder.chmod(0o755)
        try:
            rows.select(*cols).write.mode("overwrite").json(str(folder / "rows"))
            summary = store.query(f"COPY {store.name(SENSOR_FEATURES)} FROM 'file://{folder}/rows/*.json' "
                                  "WITH (overwrite_duplicates = true) RETURN SUMMARY")
            if failed := [(uri, errors) for _, uri, _, n_errors, errors in summary if n_errors]:
                raise SqlWriteFailed(f"COPY FROM rejected rows: {str(failed)[:200]}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    values = [f.name for f in SENSOR_FEATURES.all_fields if not f.indexed]
    packed = rows.select(*(c for c in cols if c in PACKED_KEYS), F.to_json(F.struct(*values)).alias("packed"))
    out = time_writers(store, [
        ("http_bulk", SENSOR_FEATURES, lambda: bulk_upsert(store, rows, SENSOR_FEATURES)),
        ("psycopg_upsert", SENSOR_FEATURES, lambda: psycopg_upsert(settings, rows, SENSOR_FEATURES)),
        ("http_bulk_indexed", INDEXED_FEATURES, lambda: bulk_upsert(store, rows, INDEXED_FEATURES)),
        ("http_bulk_packed", PACKED_FEATURES, lambda: bulk_upsert(store, packed, PACKED_FEATURES)),
        ("jdbc_stage_merge", SENSOR_FEATURES, jdbc_stage_merge),
        ("copy_from_files", SENSOR_FEATURES, copy_from_files)], n, "writer")
    rows.unpersist()
    return out


def values_unindexed(table: Table, keep: tuple[str, ...] = ("run_id", "steps_ahead")) -> Table:
    """The same table with its value columns not indexed (as sensor_features'): only the key
    and ``keep`` (what the views and statements filter the whole table by) indexed."""
    key = set(table.primary_key) | set(keep)
    return dataclasses.replace(table, name=f"{table.name}_unindexed", fields=tuple(
        f if f.name in key else dataclasses.replace(f, indexed=False) for f in table.fields))


def compare_score_writers(spark, base: Settings, rows: int = 180_000) -> dict:
    """The two writers on the score rows' shape (14 columns, two arrays; the predict
    cycle's 180k rows at 1,000 pumps), each inserting then updating, from 4 partitions;
    and the job's writer into the table refreshed each second (``http_bulk_refresh_each_s``,
    the previous declaration) and with its values not indexed (``http_bulk_values_unindexed``,
    as sensor_features') beside the table as declared."""
    settings = isolated(base, "bench_score_writers")
    store = SqlStore(settings)
    start = F.lit(START)
    df = spark.range(rows).select(
        F.format_string("pump-%04d", (F.col("id") % 1000).cast("int")).alias("asset_id"),
        (start + F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), (F.col("id") / 1000).cast("int")))
        .alias("interval_start"),
        F.rand(1).alias("score"), F.lit(0.7).alias("threshold"), (F.rand(2) > 0.8).alias("exceeds"),
        F.lit(False).alias("is_anomaly"), F.array(F.lit("pressure"), F.lit("current")).alias("top_sensors"),
        F.array(F.lit(0.6), F.rand(3)).alias("top_contributions"),
        F.when(F.rand(4) > 0.99, F.lit("frozen")).alias("instrument_check"),
        F.when(F.rand(4) > 0.99, F.lit("pressure")).alias("instrument_sensor"),
        F.when(F.rand(4) > 0.99, start).alias("instrument_since"), F.lit("sensorwatch-detector").alias("model_name"),
        F.lit(3).alias("model_version"), F.lit("run-1").alias("run_id"),
        F.lit("date=2026-01-05/hour=0").alias("source_partition"), F.lit(0).alias("threshold_version"),
        start.alias("day")).repartition(4, "asset_id").cache()
    df.count()
    store.execute(q.create_table(store.target, ANOMALY_SCORES))
    bulk_upsert(store, df, ANOMALY_SCORES)  # warm-up (the session's first Python workers), not measured
    unindexed, each_s = values_unindexed(ANOMALY_SCORES), refreshed_each_s(ANOMALY_SCORES)
    out = time_writers(store, [
        ("http_bulk", ANOMALY_SCORES, lambda: bulk_upsert(store, df, ANOMALY_SCORES)),
        ("http_bulk_refresh_each_s", each_s, lambda: bulk_upsert(store, df, each_s)),
        ("http_bulk_values_unindexed", unindexed, lambda: bulk_upsert(store, df, unindexed)),
        ("psycopg_upsert", ANOMALY_SCORES, lambda: psycopg_upsert(settings, df, ANOMALY_SCORES))], rows, "score writer")
    df.unpersist()
    return out


def compare_forecast_writers(spark, base: Settings, assets: int = 1000) -> dict:
    """The job's writer on a cycle's short-forecast rows at ``assets`` pumps (8 sensors x
    (15 steps ahead + 3 actuals): 144k rows), into ``sensor_forecasts`` as declared, refreshed
    each second (the previous declaration) and with its values not indexed, each inserting
    then updating."""
    settings = isolated(base, "bench_forecast_writers")
    store = SqlStore(settings)
    start = F.lit(START)
    per_asset = len(SENSOR_NAMES) * 18
    rows = assets * per_asset
    ahead = (F.col("id") % 18).cast("int")
    df = spark.range(rows).select(
        F.format_string("pump-%04d", (F.col("id") / per_asset).cast("int")).alias("asset_id"),
        F.element_at(F.array(*map(F.lit, SENSOR_NAMES)), ((F.col("id") / 18) % len(SENSOR_NAMES)).cast("int") + 1)
        .alias("sensor"), F.lit("short").alias("horizon"), start.alias("issued_at"),
        (start + F.make_dt_interval(F.lit(0), F.lit(0), ahead, F.lit(0))).alias("target_start"),
        F.lit(60).alias("step_s"), F.greatest(ahead - 2, F.lit(0)).alias("steps_ahead"),
        F.when(ahead > 2, F.rand(1)).alias("forecast"), F.when(ahead <= 2, F.rand(2)).alias("actual"),
        *(F.when(ahead > 2, F.rand(3) + d).alias(c) for c, d in (("lo80", -1), ("hi80", 1), ("lo95", -2), ("hi95", 2))),
        *(F.when(ahead > 2, F.lit(1.0)).alias(c) for c in ("scale80", "scale95")),
        F.lit(None).cast("double").alias("limit_low"), F.when(F.col("id") % 8 == 4, F.lit(95.0)).alias("limit_high"),
        F.when(F.col("id") % 8 == 4, F.rand(5)).alias("p_beyond_limit"), F.lit("ets_trained").alias("method"),
        F.lit("sensorwatch-detector").alias("model_name"), F.lit(3).alias("model_version"),
        F.lit("run-1").alias("run_id"), start.alias("day")).repartition(4, "asset_id").cache()
    df.count()
    unindexed, each_s = values_unindexed(SENSOR_FORECASTS), refreshed_each_s(SENSOR_FORECASTS)
    out = time_writers(store, [
        ("http_bulk", SENSOR_FORECASTS, lambda: bulk_upsert(store, df, SENSOR_FORECASTS)),
        ("http_bulk_refresh_each_s", each_s, lambda: bulk_upsert(store, df, each_s)),
        ("http_bulk_values_unindexed", unindexed, lambda: bulk_upsert(store, df, unindexed))], rows,
        "forecast writer")
    df.unpersist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000, help="N (the second run has 2N)")
    ap.add_argument("--assets", type=int, default=50, help="assets at N (doubled at 2N)")
    ap.add_argument("--no-writers", action="store_true", help="skip the bulk-writer comparisons")
    ap.add_argument("--only-writers", action="store_true", help="only the bulk-writer comparisons")
    ap.add_argument("--only-result-writers", action="store_true",
                    help="only the writes of the prediction's results (scores, forecasts)")
    args = ap.parse_args()
    base = load_settings()
    services.up(base)
    # pgJDBC (Debian's libpostgresql-jdbc-java) for the previous path in the writers' comparison
    spark = get_spark(base.with_overrides(spark={"conf": {**base.spark.conf, "spark.jars": PGJDBC}}), "bench-features")
    seconds = args.events // args.assets
    tag = f"b{int(time.time())}"

    result: dict = {}
    if not (args.only_writers or args.only_result_writers):
        warm = one_run(spark, base, f"{tag}_warm", 5, 600)  # JIT, Python workers: not measured
        print(f"warm-up: {warm}", flush=True)
        runs = {}
        for label, assets in (("n", args.assets), ("2n", 2 * args.assets)):
            runs[label] = one_run(spark, base, f"{tag}_{label}", assets, seconds)
            print(f"{label}: {runs[label]}", flush=True)
        n, n2 = runs["n"], runs["2n"]
        result = {
            "events_per_s": n2["events_per_s"],
            "rows_per_s": n2["rows_per_s"],
            "scaling_ratio": round(n2["seconds"] / n["seconds"], 2),
            # t = fixed + marginal * events, from the two runs: a ratio below 2 is the fixed part
            "fixed_s": round(2 * n["seconds"] - n2["seconds"], 2),
            "marginal_us_per_event": round(1e6 * (n2["seconds"] - n["seconds"]) / n["events"], 1),
            "runs": runs,
        }
    if not args.no_writers:
        if not args.only_result_writers:
            result["writers"] = compare_writers(spark, base, args.assets, seconds)
        result["score_writers"] = compare_score_writers(spark, base)
        result["forecast_writers"] = compare_forecast_writers(spark, base)
    for name in (f"{tag}_warm", f"{tag}_n", f"{tag}_2n", "bench_writers", "bench_score_writers",
                 "bench_forecast_writers"):
        SqlStore(base.with_overrides(sql={"schema": name})).drop_schema()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
