"""The ingest checkpoint belongs to one Kafka topic: a recreated topic is caught by its id.

Spark's Kafka source checkpoints offsets only. A topic deleted and created again with at
least as many messages as were read looks like the same topic to it, and the new topic's
first offsets would be skipped without a word. So the topic's id (KIP-516) is kept next to
the checkpoint: a different id is a recreated topic. ``failOnDataLoss`` true: a clear error;
false: the old checkpoint is set aside and the new topic is read from its beginning.
A missing topic is an error (ingest never creates one).
"""

from __future__ import annotations

import logging

from schemas.errors import OperationFailed
from sensorwatch.config import Settings
from sensorwatch.connectors.hdfs import HadoopFs
from sensorwatch.connectors.kafka import topic_id

log = logging.getLogger(__name__)


class IngestFailed(OperationFailed):
    """The ingest stream stopped with an error (the root cause is in the message)."""


def ingest_checkpoint(settings: Settings) -> str:
    return settings.storage.path("checkpoints", "ingest")


def path_safe(topic_id: str) -> str:
    """A topic id (standard base64: '/' and '+' among its characters) as one path segment."""
    return topic_id.replace("/", "_").replace("+", "-")


def check_topic_identity(fs: HadoopFs, settings: Settings) -> str:
    """Check the topic before a run (see the module's doc); return its id (the landed files
    carry it)."""
    k = settings.kafka
    current = topic_id(k, k.topic)
    if current is None:
        raise IngestFailed(f"topic '{k.topic}' does not exist on {k.bootstrap_servers} (ingest never creates it)")
    checkpoint = ingest_checkpoint(settings)
    marker = checkpoint + ".topic-id"
    recorded = fs.read_text(marker).strip() if fs.exists(marker) else None
    if recorded and recorded != current:
        if settings.ingest.fail_on_data_loss:
            raise IngestFailed(
                f"topic '{k.topic}' was recreated (id {recorded} -> {current}) since the last ingest: the offsets "
                f"in the checkpoint are not this topic's. Check what was lost, then delete the ingest checkpoint "
                f"({checkpoint}) to read the new topic from its beginning (or set ingest.fail_on_data_loss false).")
        aside = f"{checkpoint}.recreated-{path_safe(recorded)}"
        log.warning("topic '%s' was recreated (id %s -> %s): failOnDataLoss=false, so the checkpoint goes to %s "
                    "and the new topic is read from its beginning", k.topic, recorded, current, aside)
        if not fs.rename(checkpoint, aside):
            raise IngestFailed(f"could not move the ingest checkpoint {checkpoint} aside to {aside}")
    if recorded != current:
        fs.write_text(marker, current)
    return current
