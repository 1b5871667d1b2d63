"""Entry point: sensor_features in the SQL store -> a new registered model version.

    python jobs/train_model.py [--profile yarn] [--from T --to T] [--assets A B ...]
    spark-submit jobs/train_model.py ...   (runs on the driver; training needs no executors)

Reads the features of the range (default: the newest ``model.train_hours``), trains the
LSTM (GPU when TensorFlow sees one), logs the run to MLflow, registers a version and moves
the ``champion`` alias only if the version is not worse on the held-back data.
Only wiring: the logic lives in ``sensorwatch.pipeline.training`` and ``models``.
"""

import sys

from pyspark.sql import SparkSession

from sensorwatch.cli import main

if __name__ == "__main__":
    # Under spark-submit --deploy-mode cluster, YARN's application master waits for the
    # application's SparkContext (spark.yarn.am.waitTime, 100 s) and fails the attempt
    # without one (measured: training alone takes longer): the session is started first.
    spark = SparkSession.builder.getOrCreate()
    try:
        code = main(["train", *sys.argv[1:]])
    finally:
        spark.stop()
    sys.exit(code)
