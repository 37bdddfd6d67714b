"""Dead-letter records: a poison record goes to ``T.dlq`` with its coordinates.

The DLQ record keeps the original key, value and headers, and adds headers
naming where and why it failed (the names follow Kafka Connect's
``__connect.errors.*`` convention under an ``onex.dlq.`` prefix). A record is
never dead-lettered from a DLQ topic onto another DLQ topic. When the copy
cannot be published as it is (an original near the broker's size limit no
longer fits once the DLQ headers are added), it is published without its
value and ``onex.dlq.value.dropped`` gives the original's size: the partition
never blocks on a record that cannot be copied (``onex-infra dlq replay``
refuses such a record).

``onex.dlq.attempts`` counts the times the record was processed and failed: the
tries of this service, plus the attempts a record replayed from a DLQ carries in
its own ``onex.dlq.attempts`` header (the replay keeps that header, and only that
one, so a record that fails again is dead-lettered with the count carried on).
"""

from __future__ import annotations

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.workflow.protocols import (
    ProtocolRecordPublisher,
    ProtocolTopicAcl,
)
from omnibase_infra.workflow.records import VALUE_DROPPED_HEADER, DeadLetter, dlq_topic_for, is_dlq_topic


class DeadLetterWriter:
    """Publishes dead letters and waits for the broker's acknowledgement."""

    def __init__(self, publisher: ProtocolRecordPublisher, topic_acl: ProtocolTopicAcl | None = None) -> None:
        self._publisher = publisher
        self._topic_acl = topic_acl
        self.written = 0

    async def write(self, letter: DeadLetter) -> tuple[int, int]:
        """Send ``letter`` to ``T.dlq``; only after this returns may the source offset be committed."""
        if is_dlq_topic(letter.record.topic):
            raise ValueError(f"refusing to dead-letter a record of DLQ topic {letter.record.topic}")
        topic = dlq_topic_for(letter.record.topic)
        if self._topic_acl is not None:
            self._topic_acl.require(topic, "dead_letter")
        value = letter.record.value if letter.record.value is not None else b""
        try:
            acked = await self._publisher.send(topic, value, key=letter.record.key, headers=letter.headers())
        except PoisonRecordError:
            if not value:
                raise
            # The copy itself is refused (e.g. too large): keep the coordinates and the reason.
            headers = [*letter.headers(), (VALUE_DROPPED_HEADER, str(len(value)).encode())]
            acked = await self._publisher.send(topic, b"", key=letter.record.key, headers=headers)
        self.written += 1
        return acked


__all__ = ["DeadLetterWriter"]
