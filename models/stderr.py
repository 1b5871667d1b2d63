"""The process's native stderr (file descriptor 2), sent to a log file while a noisy native
library starts: TensorFlow's C++ banner (absl, oneDNN, CUDA probing) and the JVM that
PySpark launches write there directly, below Python's ``sys.stderr``.

Where: the file named by ``SENSORWATCH_NATIVE_LOG`` (the CLI sets it to the profile's log
directory unless ``SENSORWATCH_VERBOSE`` is set); unset, nothing is redirected.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "SENSORWATCH_NATIVE_LOG"


@contextmanager
def native_stderr() -> Iterator[None]:
    """Within the block, fd 2 appends to ``$SENSORWATCH_NATIVE_LOG`` (a child process
    started in it, e.g. the JVM, keeps that file as its stderr)."""
    target = os.environ.get(ENV)
    if not target:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(target, "ab") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
