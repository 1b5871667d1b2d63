"""spark-submit entry point: Kafka -> validated Parquet on HDFS (+ quarantine).

    spark-submit jobs/ingest_stream.py [--profile yarn] [--trigger availableNow|processingTime]

Only wiring: the logic lives in ``sensorwatch.ingest``.
"""

import argparse
import json
import sys

from sensorwatch.config import load_settings
from sensorwatch.ingest import run_ingest
from sensorwatch.spark import get_spark


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile")
    ap.add_argument("--trigger", choices=["availableNow", "processingTime"])
    ap.add_argument("--timeout", type=float, help="stop a processingTime stream after N seconds")
    args = ap.parse_args(argv)
    settings = load_settings(args.profile)
    if args.trigger:
        settings = settings.with_overrides(ingest={"trigger": args.trigger})
    summary = run_ingest(get_spark(settings, "sensorwatch-ingest"), settings, timeout_s=args.timeout)
    print(json.dumps({k: v for k, v in summary.items() if k != "batch_stats"}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
