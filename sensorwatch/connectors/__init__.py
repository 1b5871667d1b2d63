"""Connections to the outside world: Kafka, HDFS (WebHDFS), the SQL store."""
