"""Entry point: the newest landing events -> anomaly scores, events and monitoring in the SQL store.

    spark-submit jobs/predict_anomalies.py [--profile yarn] [--at T | --from T --to T]

Scores the feature intervals of the last ``predict.interval_s`` before T (default: now),
or every interval of a backfill range, with the ``champion`` model, in Spark (pandas UDF,
``mapInPandas``). Only wiring: the logic lives in ``sensorwatch.pipeline.prediction`` and ``models``.
"""

import sys

from sensorwatch.cli import main

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
