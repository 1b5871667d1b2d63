"""spark-submit entry point: every sensor's long forecast (the next 24 hourly means) -> sensor_forecasts.

    spark-submit jobs/forecast_sensors.py [--profile yarn] [--at T]

``--at``: the run's time (default now); the forecast is issued at its hour, so a re-run of
the same hour writes the same rows. Only wiring: ``sensorwatch.pipeline.long_forecast``.
"""

import sys

from sensorwatch.cli import main

if __name__ == "__main__":
    sys.exit(main(["forecast", *sys.argv[1:]]))
