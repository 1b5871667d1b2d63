"""The one time contract: every time in the project is UTC, and every range is [start, end).

* ``utc(t)``: any datetime or pandas timestamp -> an aware UTC ``datetime`` (naive means UTC);
* ``naive_utc(values)``: a pandas column of times -> naive UTC (what Spark and the frames
  of the model hold: ``datetime64[ns]`` without a zone);
* ``parse_time(text)``: ISO 8601 -> aware UTC, or a ``UsageError`` naming the text;
* ``TimeRange``: a half-open [start, end) in UTC, order checked once when it is made, and
  snapped to the feature interval grid where a job needs it.

The CLI parses ``--from/--to`` into a ``TimeRange`` once; features, train, predict, plot
and the jobs take that object, never two loose datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.errors import UsageError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(t: Any) -> datetime:
    """An aware UTC ``datetime`` (a naive one is taken as UTC; pandas timestamps accepted)."""
    if hasattr(t, "to_pydatetime"):
        t = t.to_pydatetime()
    if not isinstance(t, datetime):
        raise TypeError(f"not a datetime: {t!r}")
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def now() -> datetime:
    """The current UTC time to the millisecond: the store (CrateDB) keeps timestamps to the
    millisecond, so a time stamped here reads back equal (watermarks compare exactly)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def naive_utc(values: Any) -> Any:
    """Times (a pandas Series or Index, or one value; aware, naive, text or driver
    objects) -> naive UTC, of the same shape."""
    import pandas as pd

    converted = pd.to_datetime(values, utc=True)
    return converted.dt.tz_localize(None) if isinstance(converted, pd.Series) else converted.tz_localize(None)


def parse_time(text: str) -> datetime:
    """ISO 8601 (``Z`` or an offset; none means UTC) -> aware UTC."""
    try:
        return utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise UsageError(f"not an ISO 8601 time: {text!r} (e.g. 2026-05-01T08:00:00Z)") from None


def micros(t: datetime) -> int:
    """Microseconds since the epoch (how Spark rows carry times without a session zone)."""
    return int((utc(t) - EPOCH) / timedelta(microseconds=1))


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def interval_floor(t: datetime, interval_s: int) -> datetime:
    """The start of the ``interval_s`` interval holding ``t``."""
    epoch = int(utc(t).timestamp())
    return datetime.fromtimestamp(epoch - epoch % interval_s, UTC)


def interval_ceil(t: datetime, interval_s: int) -> datetime:
    """``t`` itself when it starts an interval, else the start of the next one."""
    floor = interval_floor(t, interval_s)
    return floor if floor == utc(t) else floor + timedelta(seconds=interval_s)


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in UTC; ``start < end`` always holds."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.start >= self.end:
            raise UsageError(f"empty range: --from {self.start.isoformat()} is not before --to {self.end.isoformat()}")

    @classmethod
    def parse(cls, start: str, end: str) -> TimeRange:
        return cls(parse_time(start), parse_time(end))

    @classmethod
    def optional(cls, start: datetime | str | None, end: datetime | str | None) -> TimeRange | None:
        """Both bounds (a range) or neither (None: the job's default range)."""
        if (start is None) != (end is None):
            raise UsageError("give both --from and --to, or neither")
        if start is None or end is None:
            return None
        return cls(*(parse_time(t) if isinstance(t, str) else t for t in (start, end)))

    @classmethod
    def last(cls, seconds: float, end: datetime) -> TimeRange:
        return cls(utc(end) - timedelta(seconds=seconds), end)

    def on_grid(self, interval_s: int) -> TimeRange:
        """The smallest range of whole intervals covering this one."""
        return TimeRange(interval_floor(self.start, interval_s), interval_ceil(self.end, interval_s))

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"
