#!/usr/bin/env bash
# The demo: embedded services up, simulated pumps + SKAB replayed into Kafka, ingest to
# HDFS, what landed, features upserted into the SQL store (PostgreSQL locally), then the
# LSTM trained and registered in MLflow, then anomalies scored into SQL. Each run produces new readings (timestamps up to now), so a
# second run adds fresh data instead of duplicating the first.
set -euo pipefail
cd "$(dirname "$0")/.."
SW=.venv/bin/sensorwatch
stage() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

stage "1/11 services: Kafka broker, HDFS NameNode+DataNode, PostgreSQL (127.0.0.1)"
$SW services up

stage "2/11 produce: 20 simulated pumps x 1 h at 1 Hz, with injected anomalies and 30 malformed events"
$SW produce simulate --assets 20 --seconds 3600 --anomalies 3 --bad-events 30

stage "3/11 produce: SKAB replay, one asset per file (../shared/data/skab), shifted to end before now"
$SW produce skab --start "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)"

stage "4/11 ingest: Spark Structured Streaming, availableNow, Kafka -> Parquet on hdfs:// (+ quarantine)"
$SW ingest --trigger availableNow

stage "5/11 what landed"
$SW landed

stage "6/11 features: windowed per-asset features -> sensor_features (SQL store), incremental"
$SW features

stage "7/11 features again: nothing new landed, so a no-op; then the run records"
$SW features
$SW runs --last 4

# A CPU demo: fewer epochs and larger batches than conf/local.yaml's SKAB settings.
stage "8/11 train: LSTM forecaster on the newest features, MLflow run + registered version (champion if not worse)"
SENSORWATCH__MODEL__DETECTOR__EPOCHS=6 SENSORWATCH__MODEL__DETECTOR__BATCH_SIZE=512 $SW train

stage "9/11 the model registry"
$SW model list
echo "MLflow UI: .venv/bin/mlflow ui --backend-store-uri sqlite:///$PWD/var/mlflow/mlflow.db"

stage "10/11 predict: score the last 3 hours (a backfill; the schedule runs 3-minute cycles) -> anomaly_scores, anomaly_events"
$SW predict --from "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)" --to "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
$SW predict   # the live cycle: the last 3 minutes (a no-op when nothing new landed)

stage "11/11 the most severe anomaly events, from SQL (BI tools: see docs/bi.md)"
$SW anomalies --top 10
echo
echo "Services keep running: 'make services-down' (or '$SW services down') stops them."
