"""Operational errors: the CLI prints these as one clear line instead of a traceback."""

from sensorwatch.connectors.kafka import KafkaUnavailable
from sensorwatch.connectors.sql import SqlUnavailable
from sensorwatch.services.process import ServiceError

OPERATIONAL_ERRORS = (KafkaUnavailable, SqlUnavailable, ServiceError, FileNotFoundError)
