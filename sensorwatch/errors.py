"""Operational errors: the CLI prints these as one clear line instead of a traceback."""

from sensorwatch.connectors.history import HistoryUnavailable
from sensorwatch.connectors.kafka import KafkaUnavailable
from sensorwatch.connectors.sql import SqlUnavailable, SqlWriteFailed
from sensorwatch.ingest import IngestFailed
from sensorwatch.jvm import JvmResolutionError
from sensorwatch.services.process import ServiceError
from models.detector import ModelError
from sensorwatch.train_job import NoTrainingData

OPERATIONAL_ERRORS = (KafkaUnavailable, SqlUnavailable, SqlWriteFailed, ServiceError, IngestFailed, JvmResolutionError,
                      FileNotFoundError, ModelError, NoTrainingData, HistoryUnavailable)
