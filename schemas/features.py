"""The features, declared once as data (no Spark here): the columns of ``sensor_features``.

Every feature column is ``<sensor>__<statistic>``. Interval statistics summarise the
readings of one asset inside one fixed interval (``interval_s``); rolling statistics
summarise the interval means over the last ``K = rolling_intervals`` intervals, the
current one included. Row flags describe gaps and missing values.

The ``sensor_features`` table (``schemas.records.SENSOR_FEATURES``) is built from these
declarations; ``features.transforms`` computes exactly these columns, and training and
prediction read them by the same names.

Rows exist only for intervals that have at least one event: gaps are not filled with
invented rows but flagged (``after_gap``, ``missing_intervals``), and every rolling
window is a time range (the last K intervals), so holes shrink it instead of stretching
it. This keeps every row a function of the events in its own last K intervals only:
re-running any range, or any late event, changes exactly the rows it should.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Statistic:
    """One declared feature value (``kind`` is a ``schemas.Kind`` value: this module is
    imported by ``schemas`` and so imports nothing of it)."""

    name: str  # column suffix, or the whole column name for row flags
    kind: str
    doc: str


INTERVAL_STATS: tuple[Statistic, ...] = (
    Statistic("mean", "double", "mean of the readings in the interval"),
    Statistic("min", "double", "smallest reading in the interval"),
    Statistic("max", "double", "largest reading in the interval"),
    Statistic("std", "double", "sample standard deviation in the interval (null below 2 readings)"),
    Statistic("count", "bigint", "readings present in the interval (0: the sensor is missing)"),
    Statistic("last", "double", "latest reading in the interval"),
)
ROLLING_STATS: tuple[Statistic, ...] = (
    Statistic("roll_mean", "double", "mean of the interval means over the last K intervals"),
    Statistic("roll_std", "double", "sample standard deviation of the interval means over the last K intervals"),
    Statistic("zscore", "double", "(mean - roll_mean) / roll_std; null when roll_std is 0 or null"),
    Statistic("slope", "double", "least-squares slope of the interval means over the last K intervals, per second"),
)
ROW_FLAGS: tuple[Statistic, ...] = (  # per row, never null
    Statistic("event_count", "bigint", "events in the interval, after de-duplication"),
    Statistic("missing_sensors", "int", "sensors without a reading in the interval"),
    Statistic("missing_intervals", "int", "intervals without any event among the K-1 before this one"),
    Statistic("after_gap", "boolean", "the interval before this one had no event"),
)


def column(sensor: str, statistic: str) -> str:
    """The one naming rule for feature columns."""
    return f"{sensor}__{statistic}"


def sensor_columns(sensors: tuple[str, ...]) -> tuple[tuple[str, Statistic], ...]:
    """(column name, statistic) of every statistic of every sensor, in table order."""
    return tuple((column(s, st.name), st) for s in sensors for st in (*INTERVAL_STATS, *ROLLING_STATS))


@dataclass(frozen=True)
class Selection:
    """Some of the feature columns, and what computing them takes: which interval
    statistics, which sensors' rolling statistics, whether the rows' flags. A job that
    reads a few columns (prediction reads the model's inputs) computes only those, with
    the values the whole row would have had."""

    columns: tuple[str, ...]
    interval_stats: tuple[str, ...]  # aggregations over each sensor's readings
    rolling_sensors: tuple[str, ...]  # sensors whose rolling statistics are needed
    flags: tuple[str, ...]  # row flags among the columns

    @classmethod
    def of(cls, columns: list[str] | tuple[str, ...], sensors: tuple[str, ...]) -> Selection:
        """Raises ValueError naming a column that is not a feature."""
        known = {name: st for name, st in sensor_columns(sensors)}
        flags = {f.name for f in ROW_FLAGS}
        unknown = [c for c in columns if c not in known and c not in flags]
        if unknown:
            raise ValueError(f"not feature columns: {', '.join(unknown)}")
        interval_names = {st.name for st in INTERVAL_STATS}
        needed = {c.rpartition("__")[2] for c in columns if c in known}
        rolling = tuple(s for s in sensors if any(column(s, st.name) in columns for st in ROLLING_STATS))
        stats = needed & interval_names | ({"mean"} if rolling else set()) \
            | ({"count"} if "missing_sensors" in columns else set())
        return cls(tuple(columns), tuple(st.name for st in INTERVAL_STATS if st.name in stats), rolling,
                   tuple(c for c in columns if c in flags))

    @property
    def windowed(self) -> bool:
        """Whether a row depends on intervals before its own (rolling statistics, gap flags)."""
        return bool(self.rolling_sensors) or bool({"missing_intervals", "after_gap"} & set(self.flags))


@dataclass(frozen=True)
class FeatureSpec:
    """How features are computed: the parameters that come from configuration."""

    interval_s: int = 1  # 1 s suits SKAB (1 Hz)
    rolling_intervals: int = 30  # K

    def __post_init__(self) -> None:
        if self.interval_s < 1 or 3600 % self.interval_s:
            raise ValueError(f"interval_s must divide an hour (1, 2, 5, 10, 60, ...), got {self.interval_s}")
        if self.rolling_intervals < 2:
            raise ValueError(f"rolling_intervals must be at least 2, got {self.rolling_intervals}")

    @property
    def lookback_s(self) -> int:
        """How far before an interval its rolling window reaches."""
        return (self.rolling_intervals - 1) * self.interval_s

    def lookback_for(self, selection: Selection | None) -> int:
        """How far before an interval the events of ``selection``'s columns reach (all
        columns: ``lookback_s``; interval statistics only: 0)."""
        return self.lookback_s if selection is None or selection.windowed else 0
