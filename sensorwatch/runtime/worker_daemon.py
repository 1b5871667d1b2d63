"""Spark's Python daemon for the jobs that score, with the scorer's runtime imported before it forks.

``sensorwatch.runtime.spark.get_spark(..., model_runtime=True)`` sets ``spark.python.daemon.module``
to this module. PySpark's daemon forks a Python worker per task slot, and Spark ends a
worker that has been idle for a minute (a constant of its PythonWorkerFactory), so a
long-running prediction (``predict --continuous``, one cycle every few minutes) would get
new workers each cycle, each importing its libraries again. Imported here, once per
executor, they are shared by every worker the daemon forks (copy-on-write): a new worker
only unpacks the model. ``SCORER_ENV`` (set from ``predict.scorer``) says which runtime:
ONNX Runtime (light, the default) or TensorFlow (~6 s to import, ~500 MiB). Nothing runs
in either before the fork; their thread pools start in each worker at the first forecast.
"""

import os

from pyspark import daemon

import models.serving  # pandas, Arrow, the detector: what every scoring worker imports
from sensorwatch.runtime.spark import SCORER_ENV

if os.environ.get(SCORER_ENV, "onnx") == "tensorflow":
    import models.network  # noqa: F401  (importing it is the point)
else:
    import onnxruntime  # noqa: F401

if __name__ == "__main__":
    daemon.manager()
