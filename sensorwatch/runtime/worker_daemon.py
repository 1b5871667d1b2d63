"""Spark's Python daemon for the jobs that score, with TensorFlow imported before it forks.

``sensorwatch.runtime.spark.get_spark(..., model_runtime=True)`` sets ``spark.python.daemon.module``
to this module. PySpark's daemon forks a Python worker per task slot, and Spark ends a
worker that has been idle for a minute (a constant of its PythonWorkerFactory), so a
long-running prediction (``predict --continuous``, one cycle every few minutes) would get
new workers each cycle, each importing TensorFlow again (~6 s). Imported here, once per
executor, it is shared by every worker the daemon forks (copy-on-write): a new worker
only unpacks the model (~1 s). Nothing runs in TensorFlow before the fork; its thread
pools start in each worker at the first forecast.
"""

from pyspark import daemon

import models.network  # noqa: F401  (importing it is the point)

if __name__ == "__main__":
    daemon.manager()
