"""Retention: the large tables' day partitions older than ``sql.retention_days`` dropped.

CrateDB drops whole partitions when a DELETE's condition is on the partition column only,
so this is cheap and leaves the newer days untouched. Run after each features run and by
``sensorwatch retention``.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from schemas.records import RETAINED
from schemas.time import now
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q

log = logging.getLogger(__name__)


def drop_old_partitions(store: SqlStore, days: int | None, at: datetime | None = None) -> dict[str, list[date]]:
    """Per retained table, the days whose partitions were dropped: all but the last ``days``
    UTC days up to ``at`` (default now; its own day counts). ``days`` None keeps everything."""
    if days is None:
        return {}
    cutoff = datetime.combine((at or now()).astimezone(UTC).date() - timedelta(days=days - 1), datetime.min.time(),
                              tzinfo=UTC)
    dropped: dict[str, list[date]] = {}
    for table in RETAINED:
        old = sorted(day for row in store.query(q.partition_days(store.target, table))
                     if (day := datetime.fromtimestamp(int(row.day_ms) / 1000, UTC)) < cutoff)
        if old:
            store.execute(q.drop_days_before(store.target, table, cutoff))
            dropped[table.name] = [d.date() for d in old]
            log.info("retention: dropped %d day partition(s) of %s before %s", len(old), table.name, cutoff.date())
    return dropped
