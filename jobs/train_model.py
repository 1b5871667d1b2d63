"""Entry point: sensor_features in the SQL store -> a new registered model version.

    python jobs/train_model.py [--profile yarn] [--from T --to T] [--assets A B ...]
    spark-submit jobs/train_model.py ...   (runs on the driver; training needs no executors)

Reads the features of the range (default: the newest ``model.train_hours``), trains the
LSTM (GPU when TensorFlow sees one), logs the run to MLflow, registers a version and moves
the ``champion`` alias only if the version is not worse on the held-back data.
Only wiring: the logic lives in ``sensorwatch.train_job`` and ``models``.
"""

import sys

from sensorwatch.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
