"""Operational errors: the CLI prints these as one clear line instead of a traceback."""

from sensorwatch.connectors.kafka import KafkaUnavailable
from sensorwatch.connectors.kafka_source import KafkaDataLoss
from sensorwatch.connectors.sql import SqlUnavailable, SqlWriteFailed
from sensorwatch.ingest import IngestFailed
from sensorwatch.services.process import ServiceError
from models.detector import ModelError
from sensorwatch.train_job import NoTrainingData

OPERATIONAL_ERRORS = (KafkaUnavailable, KafkaDataLoss, SqlUnavailable, SqlWriteFailed, ServiceError, IngestFailed,
                      FileNotFoundError, ModelError, NoTrainingData)
