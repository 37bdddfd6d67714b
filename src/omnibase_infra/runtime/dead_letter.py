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

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.runtime.protocols import (
    Headers,
    ProtocolRecordOrigin,
    ProtocolRecordPublisher,
    ProtocolTopicAcl,
)

DLQ_SUFFIX = ".dlq"
HEADER_PREFIX = "onex.dlq."
VALUE_DROPPED_HEADER = HEADER_PREFIX + "value.dropped"
ATTEMPTS_HEADER = HEADER_PREFIX + "attempts"
MAX_MESSAGE_BYTES = 1000


def dlq_topic_for(topic: str) -> str:
    """The DLQ topic of ``topic`` (``T.dlq``)."""
    return topic + DLQ_SUFFIX


def is_dlq_topic(topic: str) -> bool:
    return topic.endswith(DLQ_SUFFIX)


class SourceRecord(NamedTuple):
    """A consumed record's coordinates and raw content (immutable; a tuple, because one may be
    built per record and a frozen dataclass costs several times more to construct)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    @classmethod
    def of(cls, origin: ProtocolRecordOrigin) -> SourceRecord:
        """``origin`` as a ``SourceRecord`` (itself when it already is one)."""
        if isinstance(origin, SourceRecord):
            return origin
        return cls(
            origin.topic, origin.partition, origin.offset, origin.key, origin.value, tuple(origin.headers)
        )


@dataclass(frozen=True)
class DeadLetter:
    """Why a record was dead-lettered."""

    record: SourceRecord
    stage: str
    error_class: str
    message: str
    attempts: int
    failed_at: datetime

    @classmethod
    def from_error(
        cls, record: ProtocolRecordOrigin, error: PoisonRecordError, at: datetime, *, tries: int = 1
    ) -> DeadLetter:
        """The dead letter of ``record`` after ``tries`` failed tries here (``attempts`` adds
        the attempts its own ``onex.dlq.attempts`` header carries)."""
        source = SourceRecord.of(record)
        attempts = prior_attempts(source.headers) + tries
        return cls(source, error.stage, error.poison_class, error.reason, attempts, at)

    def headers(self) -> list[tuple[str, bytes]]:
        """Original headers (minus earlier DLQ headers) followed by the DLQ context headers."""
        kept = [(k, v) for k, v in self.record.headers if not k.startswith(HEADER_PREFIX)]
        context = {
            "original.topic": self.record.topic,
            "original.partition": str(self.record.partition),
            "original.offset": str(self.record.offset),
            "stage": self.stage,
            "error.class": self.error_class,
            "error.message": self.message,
            "attempts": str(self.attempts),
            "failed_at": self.failed_at.isoformat(),
        }
        encoded = [(HEADER_PREFIX + name, _truncated_utf8(value)) for name, value in context.items()]
        return kept + encoded


def _truncated_utf8(value: str) -> bytes:
    """``value`` as UTF-8, cut to ``MAX_MESSAGE_BYTES`` without splitting a character."""
    raw = value.encode("utf-8", "replace")[:MAX_MESSAGE_BYTES]
    return raw.decode("utf-8", "ignore").encode("utf-8")


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


def prior_attempts(headers: Headers) -> int:
    """The attempts a record carries in its ``onex.dlq.attempts`` header (0 without one,
    or when it is not a non-negative integer)."""
    for name, value in headers:
        if name == ATTEMPTS_HEADER:
            text = value.decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else 0
    return 0


def read_dlq_headers(headers: Headers) -> dict[str, str]:
    """The ``onex.dlq.*`` headers of a DLQ record, without the prefix, decoded."""
    return {
        k[len(HEADER_PREFIX) :]: v.decode("utf-8", "replace")
        for k, v in headers
        if k.startswith(HEADER_PREFIX)
    }


__all__ = [
    "ATTEMPTS_HEADER",
    "DLQ_SUFFIX",
    "VALUE_DROPPED_HEADER",
    "DeadLetter",
    "DeadLetterWriter",
    "SourceRecord",
    "dlq_topic_for",
    "is_dlq_topic",
    "prior_attempts",
    "read_dlq_headers",
]
