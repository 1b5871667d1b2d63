"""The one exception root of the project, and its kinds.

Every error the project raises on purpose is a ``SensorwatchError``: the CLI prints it as
one clear line (no traceback) and maps its kind to an exit code in one place
(``sensorwatch.cli.exit_code``). The kinds keep their historical built-in bases
(``ValueError`` for bad input, ``RuntimeError`` for failures), so callers that caught those
still do. This module is in ``schemas`` because every layer may import ``schemas`` and
nothing else below it.
"""

from __future__ import annotations


class SensorwatchError(Exception):
    """Something the project detected and can explain in one line."""


class UsageError(SensorwatchError, ValueError):
    """Bad arguments or configuration: the command cannot run as given (exit code 2)."""


class DataError(SensorwatchError, ValueError):
    """The input data cannot be used: too little of it, or not in the expected format."""


class Unavailable(SensorwatchError, RuntimeError):
    """A service (Kafka, the SQL store, HiveServer2, a JVM daemon) could not be reached."""


class OperationFailed(SensorwatchError, RuntimeError):
    """A service was reached but the operation failed (a rejected write, a failed batch)."""
