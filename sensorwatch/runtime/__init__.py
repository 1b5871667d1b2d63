"""Where the jobs run: the one Spark session, the Python daemon its workers fork from, the
JVM jars from Maven Central, the packed environment, spark-submit and Airflow's tasks."""
