"""spark-submit entry point: landing events on HDFS -> sensor_features in the SQL store.

    spark-submit jobs/compute_features.py [--profile yarn] [--from T --to T]

Without a range: incremental (what landed since the last successful run, late events
included). With ``--from/--to`` (ISO times, UTC by default): a backfill of that range.
Only wiring: the logic lives in ``sensorwatch.pipeline.featurization`` and ``features``.
"""

import sys

from sensorwatch.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
