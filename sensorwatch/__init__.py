"""sensorwatch: the pipeline's jobs and everything around them, on Spark, Kafka, HDFS and CrateDB.

    cli/         the ``sensorwatch`` command: a module per command group
    pipeline/    the jobs: ingest, validate, extract, features, train, predict, evaluate; run records
    operations/  what operators act on: events, alerts, labels, thresholds, plots, dashboard, console
    runtime/     where jobs run: the Spark session, its Python daemon, JVM jars, spark-submit, Airflow
    connectors/  clients of Kafka, HDFS, the SQL store and the historical SQL endpoint
    services/    the embedded services of the ``local`` profile
    sources/     event sources: the pump simulator, SKAB, producing to Kafka
    config.py    the profiles in ``conf/``;  logs.py: logging, configured once per process

Dependencies point down this list (``pyproject.toml``'s import contracts), and the whole
package sits on ``models``, ``features`` and ``schemas``.
"""

__version__ = "0.1.0"
