"""spark-submit entry point: Kafka -> validated Parquet on HDFS (+ quarantine).

    spark-submit jobs/ingest_stream.py [--profile yarn] [--trigger availableNow|processingTime] [--timeout S]

Only wiring: the logic lives in ``sensorwatch.pipeline.ingestion``.
"""

import sys

from sensorwatch.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
