"""Ingest benchmark (not a test): produce N events, run ingest availableNow, print figures.

    .venv/bin/python bench/ingest.py [--events 300000] [--assets 100] [--max-per-trigger 200000] [--bad 300]

Prints events/s and MB/s, seconds per stage (produce, Spark start, source read alone,
parse+validate alone, the whole availableNow ingest) and Spark's own per-stage times;
the last line is one JSON object of those figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import functions as F

from sensorwatch import services
from sensorwatch.config import load_settings
from sensorwatch.connectors.kafka import spark_options
from sensorwatch.pipeline.ingestion import parse_events, rules_from_settings, run_ingest
from sensorwatch.runtime.spark import get_spark
from sensorwatch.sources.produce import simulate_to_kafka


def timed(fn):
    t0 = time.monotonic()
    result = fn()
    return result, time.monotonic() - t0


def steady_rate(batches: list, max_per_trigger: int) -> int | None:
    full = [b for b in batches[1:] if b.landed + b.quarantined >= 0.9 * max_per_trigger]
    seconds = sum(b.seconds for b in full)
    return round(sum(b.landed + b.quarantined for b in full) / seconds) if full else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--max-per-trigger", type=int, default=200_000)
    ap.add_argument("--bad", type=int, default=300, help="malformed events mixed in (quarantine is written too)")
    args = ap.parse_args()

    run = f"bench-{int(time.time())}"
    base = load_settings()
    settings = base.with_overrides(
        kafka={"topic": run},
        storage={"root": f"{base.storage.root}/{run}"},
        ingest={"trigger": "availableNow", "max_offsets_per_trigger": args.max_per_trigger},
    )
    services.up(settings)
    produced, t_produce = timed(lambda: simulate_to_kafka(
        settings, assets=args.assets, seconds=args.events // args.assets, anomalies_per_asset=0, bad_events=args.bad))
    events, mb = produced["messages"], produced["mb"]
    print(f"produce: {events:,d} events ({mb} MB) in {t_produce:.1f}s", flush=True)

    spark, t_spark = timed(lambda: get_spark(settings, "bench-ingest"))
    print(f"spark session: {t_spark:.1f}s", flush=True)
    raw = (spark.read.format("kafka").options(**spark_options(settings.kafka))
           .option("subscribe", settings.kafka.topic).load())
    _, t_read = timed(lambda: raw.agg(F.sum(F.length("value"))).collect())
    print(f"source read alone: {t_read:.1f}s ({events / t_read:,.0f} events/s)", flush=True)
    parsed = parse_events(raw, rules_from_settings(settings))
    _, t_parse = timed(lambda: parsed.write.format("noop").mode("overwrite").save())
    print(f"read+parse+validate (no write): {t_parse:.1f}s ({events / t_parse:,.0f} events/s)", flush=True)

    summary, t_ingest = timed(lambda: run_ingest(spark, settings))
    assert summary.rows_out == produced["valid_events"] and summary.rows_rejected == args.bad, summary
    batch_s = sum(b.seconds for b in summary.details.batches)
    print(f"ingest availableNow: {t_ingest:.1f}s in {len(summary.details.batches)} batches "
          f"({batch_s:.1f}s inside batches); Spark stage ms: {summary.details.duration_ms}", flush=True)
    figures = {
        "events": events,
        "bad_events": args.bad,
        "mb": mb,
        "events_per_s": round(events / t_ingest),
        "mb_per_s": round(mb / t_ingest, 2),
        "events_per_s_in_batches": round(events / batch_s),
        # Full batches after the first (which pays the JVM's warm-up: JIT, Kafka consumers,
        # the Parquet writer): what a long-running stream sustains.
        "events_per_s_steady": steady_rate(summary.details.batches, args.max_per_trigger),
        "seconds": {
            "produce": round(t_produce, 2), "spark_start": round(t_spark, 2), "source_read": round(t_read, 2),
            "read_parse_validate": round(t_parse, 2), "ingest_total": round(t_ingest, 2),
            "ingest_in_batches": round(batch_s, 2),
        },
        "batch_stage_seconds": {stage: round(sum(b.stages[stage] for b in summary.details.batches), 2)
                                for stage in ("read_validate_land", "quarantine", "publish")},
        "spark_duration_ms": summary.details.duration_ms,
        "batches": len(summary.details.batches),
    }
    for batch in summary.details.batches:
        print("batch", json.dumps(batch.to_json()), flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
