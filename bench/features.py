"""Features benchmark (not a test): landed raw events -> sensor_features in the SQL store.

    .venv/bin/python bench/features.py [--events 200000] [--assets 50] [--no-writers]

Seeds N, then 2N, simulated events into fresh landing zones on HDFS (untimed), and times
one incremental features run on each (read, compute, upsert into CrateDB). Also compares
ways of bulk-upserting the same feature rows into CrateDB (``compare_writers``).
The last line is one JSON object with ``events_per_s`` (at 2N) and ``scaling_ratio``
(time for 2N / time for N: 2.0 is proportional, below 2 a fixed per-run cost), and the
fixed and per-event costs that the two runs imply.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg import sql

from features.transforms import compute_features
from schemas import SENSOR_FEATURES, Table
from sensorwatch import services
from sensorwatch.config import Settings, load_settings
from sensorwatch.connectors.sql import SqlStore, SqlWriteFailed, bulk_upsert
from sensorwatch.connectors.sql import statements as q
from sensorwatch.extract import read_landing
from sensorwatch.features_job import run_features
from sensorwatch.sources.landing import seed_landing, series_frame
from sensorwatch.sources.simulator import simulate
from sensorwatch.spark import get_spark

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


def http_bulk_writer(url: str, auth: tuple[str, str] | None, statement: str, columns: list[str], batch_rows: int):
    """A ``mapInArrow`` function posting its rows to CrateDB's HTTP endpoint as bulk
    arguments (``/_sql`` with ``bulk_args``), checking every row's result."""

    def write(batches):
        import orjson
        import pyarrow as pa
        import requests

        written = 0
        with requests.Session() as http:
            http.auth = auth
            for batch in batches:
                values = [batch.column(c).to_pylist() for c in columns]
                rows = list(zip(*values, strict=True))
                for first in range(0, len(rows), batch_rows):
                    chunk = rows[first:first + batch_rows]
                    body = orjson.dumps({"stmt": statement, "bulk_args": chunk},
                                        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC)
                    answer = http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=120)
                    answer.raise_for_status()
                    failed = [r for r in answer.json()["results"] if r["rowcount"] != 1]
                    if failed:
                        raise RuntimeError(f"{len(failed)} rows rejected: {failed[0]}")
                    written += len(chunk)
        yield pa.RecordBatch.from_pydict({"rows": [written]}, schema=pa.schema([("rows", pa.int64())]))

    return write


def compare_writers(spark, base: Settings, assets: int, seconds: int) -> dict:
    """Seconds to upsert the same feature rows into sensor_features, each way twice (the
    first run inserts, the second updates every row: a replay), on CrateDB:

    * ``psycopg_upsert`` (the job's path): batched ``INSERT ... ON CONFLICT`` from the
      Spark partitions over the PostgreSQL protocol (``connectors.sql.bulk_upsert``);
    * ``http_bulk``: the same statement with CrateDB's HTTP bulk arguments, from the partitions;
    * ``jdbc_stage_merge`` (the previous path): Spark's JDBC writer (pgJDBC, batched) into a
      staging table, ``INSERT ... SELECT ... ON CONFLICT`` into the target, the stage dropped.
    """
    settings = isolated(base, "bench_writers")
    seed_landing(spark, settings, series_frame(simulate(assets, seconds, START, seed=5, anomalies_per_asset=0)))
    rows = compute_features(read_landing(spark, settings), settings.features.spec()).cache()
    n = rows.count()
    store = SqlStore(settings)
    cols = SENSOR_FEATURES.column_names
    upsert = q.upsert_values(store.target, SENSOR_FEATURES).text()
    http_statement = upsert.replace("%s", "?")
    svc = settings.embedded
    url = f"http://{settings.sql.host}:{svc.cratedb_http_port}/_sql"

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

    def http_bulk() -> None:
        writer = http_bulk_writer(url, None, http_statement, cols, settings.sql.bulk_batch_rows)
        rows.select(*cols).mapInArrow(writer, "rows long").groupBy().sum("rows").collect()

    out: dict = {"rows": n}
    for name, fn in (("psycopg_upsert", lambda: bulk_upsert(store, rows, SENSOR_FEATURES)),
                     ("http_bulk", http_bulk), ("jdbc_stage_merge", jdbc_stage_merge)):
        store.execute(q.drop_table(store.target, SENSOR_FEATURES))
        store.create_tables((SENSOR_FEATURES,))
        out[name] = {}
        for run in ("insert", "update"):
            t0 = time.monotonic()
            try:
                fn()
            except SqlWriteFailed as exc:  # e.g. the merge's INSERT ... SELECT over CrateDB's query breaker
                out[name][run] = {"failed": str(exc)[:300]}
                print(f"writer {name} ({run}): failed: {exc}", flush=True)
                break
            store.refresh(SENSOR_FEATURES)
            took = time.monotonic() - t0
            assert store.query(f"SELECT count(*) FROM {store.name(SENSOR_FEATURES)}") == [(n,)], name
            out[name][run] = {"seconds": round(took, 2), "rows_per_s": round(n / took)}
            print(f"writer {name} ({run}): {n:,d} rows in {took:.2f}s ({n / took:,.0f} rows/s)", flush=True)
    rows.unpersist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000, help="N (the second run has 2N)")
    ap.add_argument("--assets", type=int, default=50, help="assets at N (doubled at 2N)")
    ap.add_argument("--no-writers", action="store_true", help="skip the bulk-writer comparison")
    args = ap.parse_args()
    base = load_settings()
    services.up(base)
    # pgJDBC (Debian's libpostgresql-jdbc-java) for the previous path in the writers' comparison
    spark = get_spark(base.with_overrides(spark={"conf": {**base.spark.conf, "spark.jars": PGJDBC}}), "bench-features")
    seconds = args.events // args.assets
    tag = f"b{int(time.time())}"

    warm = one_run(spark, base, f"{tag}_warm", 5, 600)  # JIT, Python workers: not measured
    print(f"warm-up: {warm}", flush=True)
    runs = {}
    for label, assets in (("n", args.assets), ("2n", 2 * args.assets)):
        runs[label] = one_run(spark, base, f"{tag}_{label}", assets, seconds)
        print(f"{label}: {runs[label]}", flush=True)
    result = {
        "events_per_s": runs["2n"]["events_per_s"],
        "rows_per_s": runs["2n"]["rows_per_s"],
        "scaling_ratio": round(runs["2n"]["seconds"] / runs["n"]["seconds"], 2),
        # t = fixed + marginal * events, from the two runs: a ratio below 2 is the fixed part
        "fixed_s": round(2 * runs["n"]["seconds"] - runs["2n"]["seconds"], 2),
        "marginal_us_per_event": round(1e6 * (runs["2n"]["seconds"] - runs["n"]["seconds"]) / runs["n"]["events"], 1),
        "runs": runs,
    }
    if not args.no_writers:
        result["writers"] = compare_writers(spark, base, args.assets, seconds)
    for name in (f"{tag}_warm", f"{tag}_n", f"{tag}_2n", "bench_writers"):
        SqlStore(base.with_overrides(sql={"schema": name})).drop_schema()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
