"""Alerts on Kafka: anomaly events published when they open, cross a severity level, or close.

After a prediction run has written its scores and events, ``publish_alerts`` looks at the
events whose alert may be due (never alerted, alerted while open, or changed since:
``statements.alert_candidates``), keeps those whose state differs from the last message
(``models.alert_rules.due``), and publishes them to ``alerts.topic`` as JSON
(``schemas.ANOMALY_ALERTS``; ``schemas.json_schema`` gives its JSON Schema), keyed by
event id, on a compacted topic: the topic holds each event's latest state. An event that
late events have rewritten away gets a tombstone (null value) for its key. An event that
overlaps a maintenance window of its asset (``maintenance_windows``) is not alerted
(its scores and the event itself are stored as always).

The same topic carries ``predicted_limit`` alerts (``publish_limit_alerts``): an asset's
sensor whose newest forecasts (``sensor_forecasts``) reach ``forecast.alert_probability``
of being beyond an operating limit, keyed ``asset_id|predicted_limit|sensor``, announced
when it becomes likely and when it no longer is (``limit_alerts`` holds the last state).

What was published is recorded in ``anomaly_alerts`` only once the broker has
acknowledged every message, so: a re-run or a backfill that leaves an event unchanged
publishes nothing; a run that cannot reach the broker fails with ``KafkaUnavailable``
after its SQL rows are written, and the next run publishes what is missing (at least
once: a message acknowledged but not recorded is sent again, with the same key and state).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
import pandas as pd

from models import alert_rules
from schemas import ANOMALY_ALERTS, LIMIT_ALERTS
from schemas.time import now
from schemas.views import LIMIT_SHOWN
from sensorwatch.config import Settings
from sensorwatch.connectors.kafka import (
    KafkaUnavailable,
    client_conf,
    ensure_topic,
    make_producer,
    produce_all,
    topic_partitions,
)
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import records as plain_records
from sensorwatch.connectors.sql import statements as q

log = logging.getLogger(__name__)
DELIVERY_TIMEOUT_S = 20  # a broker that does not acknowledge within this fails the run


@dataclass(frozen=True)
class Published:
    messages: int  # alerts (open, level crossed, closed)
    tombstones: int  # events that no longer exist


def publish_alerts(store: SqlStore, settings: Settings) -> Published:
    """Publish every due alert (see the module's doc); returns what was published."""
    conf = settings.alerts
    if conf is None:
        return Published(0, 0)
    candidates = pd.DataFrame(store.query(q.alert_candidates(store.target)),
                              columns=[*q.ALERT_EVENT_COLUMNS, "last_status", "last_level", "last_kind"])
    if not candidates.empty:  # planned work: such events are scored and stored, not alerted
        windows = pd.DataFrame(store.query(q.maintenance_of(store.target, sorted(set(candidates["asset_id"])))),
                               columns=["asset_id", "window_start", "window_end"])
        candidates = candidates.loc[~alert_rules.in_maintenance(candidates, windows)]
    rows = alert_rules.due(candidates, conf.severity_levels)
    orphans = store.query(q.orphan_alerts(store.target))
    if rows.empty and not orphans:
        return Published(0, 0)
    published_at = now()
    records = [{**row, "published_at": published_at} for row in plain_records(rows)]
    messages: list[tuple[bytes | None, bytes | None]] = [
        (r["event_id"].encode(), orjson.dumps(r)) for r in records]  # datetimes as RFC 3339
    messages += [(event_id.encode(), None) for event_id, *_ in orphans]
    ensure_topic(settings.kafka, conf.topic, conf.partitions, timeout_s=DELIVERY_TIMEOUT_S,
                 config={"cleanup.policy": "compact"})
    producer = make_producer(settings.kafka, **{"message.timeout.ms": DELIVERY_TIMEOUT_S * 1000})
    produce_all(producer, conf.topic, messages, flush_s=DELIVERY_TIMEOUT_S + 5)
    store.upsert(ANOMALY_ALERTS, records)
    store.delete_keys(ANOMALY_ALERTS, [(a, s, d) for _, a, s, d in orphans])
    log.info("published %d alert(s) and %d tombstone(s) to %s", len(records), len(orphans), conf.topic)
    return Published(len(records), len(orphans))


def publish_limit_alerts(store: SqlStore, settings: Settings) -> int:
    """Publish every due ``predicted_limit`` alert (see the module's doc); returns how many."""
    conf = settings.alerts
    if conf is None:
        return 0
    candidates = pd.DataFrame(store.query(q.limit_candidates(store.target, LIMIT_SHOWN)),
                              columns=["asset_id", "sensor", "limit_at", "probability", "limit_low", "limit_high",
                                       "issued_at", "last_status"])
    rows = alert_rules.limits_due(candidates, settings.forecast.alert_probability)
    if rows.empty:
        return 0
    published_at = now()
    records = [{**row, "published_at": published_at} for row in plain_records(rows)]
    ensure_topic(settings.kafka, conf.topic, conf.partitions, timeout_s=DELIVERY_TIMEOUT_S,
                 config={"cleanup.policy": "compact"})
    producer = make_producer(settings.kafka, **{"message.timeout.ms": DELIVERY_TIMEOUT_S * 1000})
    produce_all(producer, conf.topic, [(r["alert_id"].encode(), orjson.dumps(r)) for r in records],
                flush_s=DELIVERY_TIMEOUT_S + 5)
    store.upsert(LIMIT_ALERTS, records)
    log.info("published %d predicted_limit alert(s) to %s", len(records), conf.topic)
    return len(records)


def read_alerts(settings: Settings, timeout_s: float = 10.0) -> list[tuple[str, dict | None]]:
    """Every message on the alerts topic, oldest first per partition: (event id, the alert,
    or None for a tombstone). A consumer without a group: reads to the end and stops."""
    from confluent_kafka import Consumer, TopicPartition

    conf = settings.alerts
    if conf is None:
        return []
    partitions = topic_partitions(settings.kafka, conf.topic, timeout_s) or []
    consumer = Consumer({**client_conf(settings.kafka), "group.id": "sensorwatch-alerts-reader",
                         "enable.auto.commit": False})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(conf.topic, p), timeout=timeout_s)[1]
                for p in partitions}
        consumer.assign([TopicPartition(conf.topic, p, 0) for p in partitions])
        out: list[tuple[str, dict | None]] = []
        read = dict.fromkeys(partitions, 0)
        while any(read[p] < ends[p] for p in partitions):
            msg = consumer.poll(timeout_s)
            if msg is None:
                raise KafkaUnavailable(f"no message from {conf.topic} within {timeout_s:.0f} s")
            if msg.error() is not None:
                raise KafkaUnavailable(f"reading {conf.topic}: {msg.error()}")
            read[msg.partition() or 0] = (msg.offset() or 0) + 1
            key, value = msg.key(), msg.value()
            out.append((key.decode() if key else "", orjson.loads(value) if value is not None else None))
        return out
    finally:
        consumer.close()

