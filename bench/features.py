"""Features benchmark (not a test): landed raw events -> sensor_features in the SQL store.

    .venv/bin/python bench/features.py [--events 200000] [--assets 50] [--no-writers]

Seeds N, then 2N, simulated events into fresh landing zones on HDFS (untimed), and times
one incremental features run on each (read, compute, stage over pgJDBC, merge). Also
compares ways of bulk-writing the same feature rows into a staging table: Spark's JDBC
writer with pgJDBC (what the job uses), and per-partition psycopg ``executemany`` and
``COPY`` (PostgreSQL only: CrateDB has no COPY FROM STDIN).
The last line is one JSON object with ``events_per_s`` (at 2N) and ``scaling_ratio``
(time for 2N / time for N: 2.0 is proportional, below 2 a fixed per-run cost), and the
fixed and per-event costs that the two runs imply.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.transforms import compute_features
from schemas import SENSOR_FEATURES
from sensorwatch import services
from sensorwatch.config import Settings, load_settings
from sensorwatch.connectors.sql import SqlStore, connect
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.loader import write_jdbc
from sensorwatch.extract import read_landing
from sensorwatch.features_job import run_features
from sensorwatch.sources.landing import seed_landing, series_frame
from sensorwatch.sources.simulator import simulate
from sensorwatch.spark import get_spark

START = datetime(2026, 1, 5, tzinfo=UTC)


def isolated(base: Settings, name: str) -> Settings:
    settings = base.with_overrides(storage={"root": f"{base.storage.root}/bench/{name}"}, sql={"schema": name})
    store = SqlStore(settings)
    store.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    store.execute(f'CREATE SCHEMA "{name}"')
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


def compare_writers(spark, base: Settings, assets: int, seconds: int) -> dict:
    """Seconds to bulk-write the same feature rows into an empty staging table, three ways."""
    settings = isolated(base, "bench_writers")
    seed_landing(spark, settings, series_frame(simulate(assets, seconds, START, seed=5, anomalies_per_asset=0)))
    rows = compute_features(read_landing(spark, settings), settings.features.spec()).cache()
    n = rows.count()
    store = SqlStore(settings)
    stage = q.stage_table(SENSOR_FEATURES, "bench")
    cols = SENSOR_FEATURES.column_names
    quoted = q.columns(cols).as_string()
    insert = f"INSERT INTO {store.name(stage)} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))})"
    copy = f"COPY {store.name(stage)} ({quoted}) FROM STDIN"

    def psycopg_partition(use_copy: bool):
        def write(partition):
            with connect(settings) as conn:
                batch = [tuple(r) for r in partition]
                if use_copy:
                    with conn.cursor().copy(copy) as cp:
                        for r in batch:
                            cp.write_row(r)
                else:
                    with conn.pipeline():
                        conn.cursor().executemany(insert, batch)
        return write

    def jdbc():
        write_jdbc(store, rows.select(*cols), stage)

    out = {"rows": n}
    for name, fn in (("spark_jdbc", jdbc),
                     ("psycopg_executemany", lambda: rows.foreachPartition(psycopg_partition(False))),
                     ("psycopg_copy", lambda: rows.foreachPartition(psycopg_partition(True)))):
        store.execute(q.drop_table(store.target, stage))
        store.execute(q.create_table(store.target, stage))
        t0 = time.monotonic()
        fn()
        seconds = time.monotonic() - t0
        assert store.query(f"SELECT count(*) FROM {store.name(stage)}") == [(n,)]
        out[name] = {"seconds": round(seconds, 2), "rows_per_s": round(n / seconds)}
        print(f"writer {name}: {n:,d} rows in {seconds:.2f}s ({n / seconds:,.0f} rows/s)", flush=True)
    store.execute(q.drop_table(store.target, stage))
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
    spark = get_spark(base, "bench-features")
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
        SqlStore(base).execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    print(json.dumps(result))


if __name__ == "__main__":
    main()
