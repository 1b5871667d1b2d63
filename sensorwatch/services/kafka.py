"""The embedded Apache Kafka 4 broker: KRaft, broker and controller in one JVM, on 127.0.0.1.

Jars from Maven Central (``jvm/kafka-broker/pom.xml``, cached by ``sensorwatch.runtime.jvm``).
Three listeners:

* PLAINTEXT on ``kafka.bootstrap_servers`` (profile ``local``);
* SASL_SSL on ``services.kafka_sasl_ssl_port``: SCRAM-SHA-512 over TLS, with a certificate
  signed by a test CA made here once (``var/kafka/tls/ca.pem`` is what clients trust);
* CONTROLLER on ``services.kafka_controller_port`` (KRaft's own).

The storage is formatted once (``kafka.tools.StorageTool format --standalone``), which also
creates the SCRAM user ``services.kafka_sasl_user`` with a password generated then and kept
in ``var/kafka/sasl-password`` (mode 0600). Data persists across ``services down/up``.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import uuid
from pathlib import Path

from sensorwatch.config import Settings, endpoint_port
from sensorwatch.connectors.kafka import broker_reachable, client_conf
from sensorwatch.runtime import jvm
from sensorwatch.services.process import ServiceError, read_pid, start_background, stop_pid, wait_until

NAME = "kafka"
HEAP = "-Xmx512m"  # measured RSS ~0.4 GB with the suite's traffic (README)
JVM_FLAGS = (HEAP, "-Xms128m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
             "-Djava.net.preferIPv4Stack=true")
MECHANISM = "SCRAM-SHA-512"
LOG4J = """\
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %p %c{1}: %m%n
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


def _dir(settings: Settings) -> Path:
    return settings.home / NAME


def ca_file(settings: Settings) -> Path:
    """The test CA's certificate (PEM): what a SASL_SSL client of the embedded broker trusts."""
    return _dir(settings) / "tls" / "ca.pem"


def _password_file(settings: Settings) -> Path:
    return _dir(settings) / "sasl-password"


def sasl_password(settings: Settings) -> str:
    """The embedded broker's SCRAM password (made when its storage was formatted)."""
    path = _password_file(settings)
    if not path.exists():
        raise ServiceError(f"no SCRAM password at {path}: start the broker first (sensorwatch services up kafka)")
    return path.read_text().strip()


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise ServiceError(f"openssl {args[0]} failed: {result.stderr.strip()[-500:]}")


def _ensure_tls(settings: Settings) -> Path:
    """A test CA and a broker certificate for 127.0.0.1/localhost, made once; returns the broker's
    PEM keystore (its private key, then its certificate)."""
    tls = _dir(settings) / "tls"
    keystore = tls / "broker.pem"
    if keystore.exists():
        return keystore
    tls.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert, ext = (tls / n for n in ("ca.key", "ca.pem", "broker.key", "broker.csr",
                                                         "broker.crt", "san.ext"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
             "-days", "3650", "-subj", "/CN=sensorwatch test CA")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(cert), "-days", "3650", "-extfile", str(ext))
    keystore.write_text(key.read_text() + cert.read_text())
    for private in (ca_key, key, keystore):
        private.chmod(0o600)
    csr.unlink()
    return keystore


def _server_properties(settings: Settings, keystore: Path) -> str:
    svc = settings.embedded
    plain, sasl, ctrl = (endpoint_port(settings.kafka.bootstrap_servers), svc.kafka_sasl_ssl_port,
                         svc.kafka_controller_port)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{ctrl}",
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{sasl},CONTROLLER://127.0.0.1:{ctrl}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{sasl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": MECHANISM,
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(keystore),
        "log.dirs": str(_dir(settings) / "data"),
        "num.partitions": "1",
        # One node: every internal topic with one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",  # a typo in a topic name is an error, not a new topic
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _java(settings: Settings, main: str, *args: str) -> list[str]:
    conf = _dir(settings) / "config"
    return ["java", *JVM_FLAGS, f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}",
            "-cp", jvm.classpath("kafka-broker"), main, *args]


def _format_once(settings: Settings, properties: Path) -> None:
    """Format the KRaft storage (first start only), creating the SCRAM user with a new password."""
    if (_dir(settings) / "data" / "meta.properties").exists():
        return
    password = secrets.token_urlsafe(18)
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    user = settings.embedded.kafka_sasl_user
    result = subprocess.run(
        _java(settings, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(properties),
              "--add-scram", f"{MECHANISM}=[name={user},password={password}]"),
        capture_output=True, text=True)
    if result.returncode != 0:
        raise ServiceError(f"formatting the Kafka storage failed:\n{(result.stdout + result.stderr)[-1500:]}")
    path = _password_file(settings)
    path.write_text(password + "\n")
    path.chmod(0o600)


def start(settings: Settings) -> str:
    home = settings.home
    pid_file, log_file = home / "run" / f"{NAME}.pid", home / "log" / f"{NAME}.log"
    if read_pid(pid_file) is None:
        conf = _dir(settings) / "config"
        conf.mkdir(parents=True, exist_ok=True)
        properties = conf / "server.properties"
        properties.write_text(_server_properties(settings, _ensure_tls(settings)))
        (conf / "log4j2.properties").write_text(LOG4J)
        _format_once(settings, properties)
        start_background(_java(settings, "kafka.Kafka", str(properties)), pid_file, log_file,
                         env={**os.environ, "LOG_DIR": str(home / "log")})
    wait_until(lambda: _serving(settings),
               f"Kafka broker at {settings.kafka.bootstrap_servers}", 90, log_file=log_file, pid_file=pid_file)
    return (f"Apache Kafka at {settings.kafka.bootstrap_servers} (PLAINTEXT), "
            f"127.0.0.1:{settings.embedded.kafka_sasl_ssl_port} (SASL_SSL {MECHANISM}, CA {ca_file(settings)})")


def _serving(settings: Settings) -> bool:
    """Up means serving: metadata answers, and every partition it holds answers a ListOffsets
    (after a restart the metadata answers while partitions are still loading: NOT_LEADER)."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient({**client_conf(settings.kafka), "log_level": 0})
    topics = admin.list_topics(timeout=2).topics
    partitions = [TopicPartition(name, p) for name, meta in topics.items() for p in meta.partitions]
    if partitions:
        for answer in admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions},
                                         request_timeout=5).values():
            answer.result()  # raises while a partition has no leader yet: not up
    return True


def stop(settings: Settings) -> bool:
    return stop_pid(settings.home / "run" / f"{NAME}.pid", timeout_s=30)


def is_up(settings: Settings) -> bool:
    return broker_reachable(settings.kafka, timeout_s=2)
