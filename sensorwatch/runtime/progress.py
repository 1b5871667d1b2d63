"""A progress bar on stderr for long steps (producing). On a terminal it redraws one line;
in a log (not a TTY) it logs one line when the step ends, so logs stay short."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, label: str, total: int, unit: str = "", stream=None):
        self.label, self.total, self.unit = label, max(int(total), 1), unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()

    def update(self, done: int) -> None:
        fraction = min(done / self.total, 1.0)
        if self.tty:
            filled = int(30 * fraction)
            elapsed = time.monotonic() - self.started
            self.stream.write(f"\r  {self.label} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} "
                              f"{done:,}/{self.total:,}{self.unit} {elapsed:5.0f}s")
            self.stream.flush()

    def close(self, done: int | None = None) -> None:
        done = self.total if done is None else done
        if self.tty:
            self.update(done)
            self.stream.write("\n")
        else:
            log.info("%s: %s/%s%s in %.0fs", self.label, f"{done:,}", f"{self.total:,}", self.unit,
                     time.monotonic() - self.started)
