"""Where the first ingest batch's extra seconds go (not a test): each part of a batch, twice.

    .venv/bin/python bench/first_batch.py [--events 250000]

In a fresh Spark session (as ``sensorwatch ingest`` starts), the same ``--events`` Kafka
rows go through the batch's parts in the order a batch runs them, each part twice in a row:

1. ``source``: Spark's Kafka source alone (the Kafka consumers, the fetch path's code);
2. ``validate``: source + the validator in Python workers (``mapInArrow``: the daemon and
   workers start, the Arrow paths);
3. ``land``: source + validator + the landing Parquet written to a scratch dir on HDFS
   (the Parquet writer, the first HDFS output streams and block allocations).

A part's first run minus its second is its warm-up; since the parts before it ran twice
already, that excess is its own. Then a new session (a fresh JVM, in a child
process) runs the ``land`` part alone, twice: what an ingest's first batch meets. With
``--warm-up``, that child first runs ``sensorwatch.pipeline.ingestion.warm_up`` (synthetic
rows through the validator, the landing rows and the Parquet writer, to a scratch dir on
HDFS), and a second child without it runs beside: what start-up can take off the first
batch. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import functions as F

from schemas.time import now
from sensorwatch import services
from sensorwatch.config import load_settings
from sensorwatch.connectors.hdfs import hdfs_path, webhdfs_client
from sensorwatch.connectors.kafka import spark_options
from sensorwatch.pipeline.ingestion import landing_rows, parse_events, rules_from_settings, warm_up
from sensorwatch.runtime.spark import get_spark
from sensorwatch.sources.produce import simulate_to_kafka

PARTS = ("source", "validate", "land")


def part_runner(spark, settings, scratch: str):
    raw = spark.read.format("kafka").options(**spark_options(settings.kafka)).option(
        "subscribe", settings.kafka.topic).load()
    rules = rules_from_settings(settings)
    runs = {"n": 0}

    def run(part: str) -> float:
        runs["n"] += 1
        started = time.monotonic()
        if part == "source":
            raw.agg(F.sum(F.length("value"))).collect()
        elif part == "validate":
            parse_events(raw, rules).write.format("noop").mode("overwrite").save()
        else:
            landing_rows(parse_events(raw, rules), now()).write.partitionBy("date", "hour").parquet(
                f"{scratch}/run-{runs['n']}")
        return round(time.monotonic() - started, 2)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=250_000)
    ap.add_argument("--warm-up", action="store_true", help="also a fresh JVM that warms up ahead of the data")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # topic: a fresh JVM's land part, twice
    ap.add_argument("--child-warm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    base = load_settings()
    if args.child:
        settings = base.with_overrides(kafka={"topic": args.child})
        started = time.monotonic()
        spark = get_spark(settings, "bench-first-batch-child")
        session = round(time.monotonic() - started, 2)
        scratch = settings.storage.path("_bench", "first-batch", f"{args.child}-child-{int(args.child_warm)}")
        started = time.monotonic()
        if args.child_warm:
            warm_up(spark, settings)
        warm = round(time.monotonic() - started, 2)
        run = part_runner(spark, settings, scratch)
        print(json.dumps({"session_s": session, "warm_up_s": warm, "land_s": [run("land"), run("land")]}))
        webhdfs_client(settings).delete(hdfs_path(scratch), recursive=True)
        return

    topic = f"bench-first-{int(time.time())}"
    settings = base.with_overrides(kafka={"topic": topic})
    services.up(settings, ["kafka", "hdfs"])
    simulate_to_kafka(settings, assets=100, seconds=args.events // 100, anomalies_per_asset=0, bad_events=0)
    started = time.monotonic()
    spark = get_spark(settings, "bench-first-batch")
    print(f"spark session: {time.monotonic() - started:.1f} s", flush=True)
    scratch = settings.storage.path("_bench", "first-batch", topic)
    run = part_runner(spark, settings, scratch)
    seconds = {part: [run(part), run(part)] for part in PARTS}
    excess = {part: round(first - second, 2) for part, (first, second) in seconds.items()}
    for part in PARTS:
        print(f"{part}: first {seconds[part][0]:.2f} s, second {seconds[part][1]:.2f} s: warm-up {excess[part]:.2f} s",
              flush=True)
    spark.stop()
    webhdfs_client(settings).delete(hdfs_path(scratch), recursive=True)
    children = {}
    for warm in ([False, True] if args.warm_up else [False]):
        done = subprocess.run([sys.executable, __file__, "--child", topic] + (["--child-warm"] if warm else []),
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(done.stderr[-3000:])
        children["warmed" if warm else "cold"] = child = json.loads(done.stdout.strip().splitlines()[-1])
        said = f", warm-up {child['warm_up_s']:.2f} s" if warm else ""
        print(f"a fresh JVM{' with the warm-up ahead of the data' if warm else ''}: session {child['session_s']:.2f} s"
              f"{said}, land first "
              f"{child['land_s'][0]:.2f} s, second {child['land_s'][1]:.2f} s", flush=True)
    result = {"events": args.events, "seconds": seconds, "warm_up_excess_s": excess,
              "fresh_jvm": children,
              "first_batch_excess_s": round(children["cold"]["land_s"][0] - children["cold"]["land_s"][1], 2)}
    if "warmed" in children:
        result["first_land_saved_s"] = round(children["cold"]["land_s"][0] - children["warmed"]["land_s"][0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
