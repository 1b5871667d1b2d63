"""Kafka clients from one ``KafkaConf``: confluent-kafka (producer, admin) and the options of
Spark's own Kafka source, with the same security settings for both.

confluent-kafka is the project's one Python client, chosen by measurement on this 2-core
machine (~8x kafka-python's throughput, see README). Spark's source is the JVM
``kafka-clients`` inside ``spark-sql-kafka-0-10``: the same settings, spelt the Java way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from schemas.errors import Unavailable
from sensorwatch.config import KafkaConf

LIBRDKAFKA = logging.getLogger("librdkafka")  # the clients' native log (``logs.CHATTY``: errors only)


class KafkaUnavailable(Unavailable):
    """The broker could not be reached (or refused our credentials)."""


def _password(kafka: KafkaConf) -> str:
    if kafka.password is None:
        raise KafkaUnavailable(f"Kafka at {kafka.bootstrap_servers} needs SASL credentials: "
                               f"set SENSORWATCH_KAFKA_PASSWORD for user '{kafka.username}'")
    return kafka.password.get_secret_value()


def client_conf(kafka: KafkaConf) -> dict[str, Any]:
    """librdkafka settings: bootstrap servers and, for SASL_SSL, the SCRAM login and the CA.
    librdkafka's own log goes through Python's logging (logger ``librdkafka``), not
    straight to stderr."""
    conf: dict[str, object] = {"bootstrap.servers": kafka.bootstrap_servers, "logger": LIBRDKAFKA}
    if kafka.security_protocol == "SASL_SSL":
        conf.update({"security.protocol": "SASL_SSL", "sasl.mechanisms": kafka.sasl_mechanism,
                     "sasl.username": kafka.username, "sasl.password": _password(kafka)})
        if kafka.ssl_ca_location:
            conf["ssl.ca.location"] = kafka.ssl_ca_location
    return conf


def spark_options(kafka: KafkaConf) -> dict[str, str]:
    """The ``kafka.*`` options of Spark's Kafka source (Java client names) for ``kafka``."""
    options = {"kafka.bootstrap.servers": kafka.bootstrap_servers}
    if kafka.security_protocol == "SASL_SSL":
        secret = _password(kafka).replace("\\", "\\\\").replace('"', '\\"')
        options.update({
            "kafka.security.protocol": "SASL_SSL",
            "kafka.sasl.mechanism": kafka.sasl_mechanism,
            "kafka.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                                      f'username="{kafka.username}" password="{secret}";',
        })
        if kafka.ssl_ca_location:
            options.update({"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": kafka.ssl_ca_location})
    return options


def _admin(kafka: KafkaConf, **extra: Any) -> AdminClient:
    return AdminClient({**client_conf(kafka), **extra})


def broker_reachable(kafka: KafkaConf, timeout_s: float = 5.0) -> bool:
    """Whether the broker answers a metadata request with these settings (credentials too)."""
    try:
        _admin(kafka, log_level=0).list_topics(timeout=timeout_s)
        return True
    except KafkaException:
        return False


def topic_partitions(kafka: KafkaConf, topic: str, timeout_s: float = 10.0) -> list[int] | None:
    """The partitions of ``topic``, or None if it does not exist (never creates it)."""
    try:
        found = _admin(kafka, log_level=0).list_topics(timeout=timeout_s).topics.get(topic)
    except KafkaException as exc:
        raise KafkaUnavailable(f"Kafka broker at {kafka.bootstrap_servers} is unreachable: {exc}") from None
    if found is None or found.error is not None or not found.partitions:
        return None
    return sorted(found.partitions)


def ensure_topic(kafka: KafkaConf, topic: str, partitions: int, timeout_s: float = 15.0,
                 config: dict[str, str] | None = None) -> None:
    """Create ``topic`` if missing (replication 1 locally; ``config``: topic settings such as
    ``cleanup.policy``). Existing topics are left as they are."""
    if topic_partitions(kafka, topic, timeout_s) is not None:
        return
    admin = _admin(kafka)
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                            config=config or {})], operation_timeout=timeout_s)
    try:
        futures[topic].result(timeout=timeout_s)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def topic_id(kafka: KafkaConf, topic: str, timeout_s: float = 10.0) -> str | None:
    """The topic's unique id (KIP-516; a recreated topic gets a new one), None if it does not exist.

    Spark's Kafka source keeps only offsets in its checkpoint: a topic deleted and created again
    with more messages than were read looks like the same topic to it (ingest.py checks this).
    """
    from confluent_kafka import TopicCollection

    admin = _admin(kafka, log_level=0)  # held until the answer is in (a dropped client cancels it)
    try:
        found = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout_s)[topic].result(timeout_s)
    except KafkaException as exc:
        if "UNKNOWN_TOPIC" in str(exc):
            return None
        raise KafkaUnavailable(f"cannot describe topic '{topic}' on {kafka.bootstrap_servers}: {exc}") from None
    except TimeoutError:  # librdkafka keeps retrying a refused login: it ends as a timeout
        raise KafkaUnavailable(f"no answer about topic '{topic}' from {kafka.bootstrap_servers} "
                               f"within {timeout_s:.0f}s "
                               "(broker down, or credentials refused)") from None
    return str(found.topic_id)


def make_producer(kafka: KafkaConf, **extra: object) -> Producer:
    """A producer tuned for bulk throughput; callers ``flush()`` at the end. Idempotent (the
    Java and librdkafka default since Kafka 3.0): a retried send is never written twice."""
    conf = {
        **client_conf(kafka),
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
        "compression.type": "none",
        "enable.idempotence": True,
        **extra,
    }
    return Producer(conf)


def produce_all(producer: Producer, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]],
                flush_s: float = 120.0) -> int:
    """Produce (key, value) pairs (a None value: a tombstone), waiting on a full queue
    instead of failing; return the count once all are delivered, else KafkaUnavailable."""
    errors: list[str] = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    n = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10000 == 0:
            producer.poll(0)
    remaining = producer.flush(flush_s)
    if remaining or errors:
        raise KafkaUnavailable(f"{remaining} messages not delivered, {len(errors)} failed: {errors[:3]}")
    return n
