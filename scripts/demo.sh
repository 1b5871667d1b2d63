#!/usr/bin/env bash
# The demo: embedded services up, simulated pumps + SKAB replayed into Kafka, ingest to
# HDFS, what landed, features upserted into the SQL store (PostgreSQL locally), then the
# LSTM trained and registered in MLflow. Each run produces new readings (timestamps up to now), so a
# second run adds fresh data instead of duplicating the first.
set -euo pipefail
cd "$(dirname "$0")/.."
SW=.venv/bin/sensorwatch
stage() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

stage "1/9 services: Kafka broker, HDFS NameNode+DataNode, PostgreSQL (127.0.0.1)"
$SW services up

stage "2/9 produce: 20 simulated pumps x 1 h at 1 Hz, with injected anomalies and 30 malformed events"
$SW produce simulate --assets 20 --seconds 3600 --anomalies 3 --bad-events 30

stage "3/9 produce: SKAB replay, one asset per file (../shared/data/skab), shifted to end before now"
$SW produce skab --start "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)"

stage "4/9 ingest: Spark Structured Streaming, availableNow, Kafka -> Parquet on hdfs:// (+ quarantine)"
$SW ingest --trigger availableNow

stage "5/9 what landed"
$SW landed

stage "6/9 features: windowed per-asset features -> sensor_features (SQL store), incremental"
$SW features

stage "7/9 features again: nothing new landed, so a no-op; then the run records"
$SW features
$SW runs --last 4

# A CPU demo: fewer epochs and larger batches than conf/local.yaml's SKAB settings.
stage "8/9 train: LSTM forecaster on the newest features, MLflow run + registered version (champion if not worse)"
SENSORWATCH__MODEL__DETECTOR__EPOCHS=6 SENSORWATCH__MODEL__DETECTOR__BATCH_SIZE=512 $SW train

stage "9/9 the model registry"
$SW model list
echo "MLflow UI: .venv/bin/mlflow ui --backend-store-uri sqlite:///$PWD/var/mlflow/mlflow.db"
echo
echo "Services keep running: 'make services-down' (or '$SW services down') stops them."
