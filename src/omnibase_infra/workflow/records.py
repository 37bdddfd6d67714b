"""The records a workflow carries: where each was read, what it held, why it failed.

Shared by the nodes (they never import each other) and the runtime host:
``Partition`` and ``ProtocolConsumerRecord`` (what the consumer returns),
``SourceRecord`` (a consumed record's coordinates and raw content), ``DeadLetter``
(a poison record and why; its DLQ headers follow Kafka Connect's
``__connect.errors.*`` convention under an ``onex.dlq.`` prefix), ``StoredFields``
and ``StoredEvent`` (an envelope as the event store keeps it) and ``WriteResult``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol
from uuid import UUID

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.workflow.protocols import Headers, ProtocolRecordOrigin


@dataclass(frozen=True, order=True)
class Partition:
    """A topic partition (hashable, ordered)."""

    topic: str
    partition: int


class ProtocolConsumerRecord(ProtocolRecordOrigin, Protocol):
    """A record as the consumer returns it: where it was read, what it held, when it was written."""

    @property
    def timestamp(self) -> int: ...


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


class StoredFields(NamedTuple):
    """What the event store keeps of an envelope, as the text PostgreSQL reads for each column.

    ``envelope_id`` and ``correlation_id`` are canonical UUID text (lowercase, hyphenated: equal
    text is an equal UUID), ``envelope_timestamp`` RFC 3339 text with its UTC offset (within
    PostgreSQL's range), ``payload_json`` and ``metadata_json`` JSON text. Text, not ``UUID``
    and ``datetime`` objects: the event store's fast path keeps the wire's own text where it
    is already in that form, and the writer sends it as COPY text (``event_store_writer``).
    """

    envelope_id: str
    event_type: str | None
    correlation_id: str | None
    envelope_timestamp: str
    payload_json: str
    metadata_json: str


def uuid_text(value: UUID) -> str:
    """The canonical text of a UUID (what ``StoredFields`` holds)."""
    return str(value)


def timestamp_text(value: datetime) -> str:
    """RFC 3339 text of ``value`` in UTC (a naive value is local time, as asyncpg reads it).

    An instant whose UTC date lies outside Python's years 1-9999 (``9999-12-31T23:00-05:00``)
    keeps its own offset instead: PostgreSQL reads it the same, and it never raises.
    """
    try:
        return value.astimezone(UTC).isoformat()
    except OverflowError:
        return value.isoformat()


class StoredEvent(NamedTuple):
    """One row to write: the envelope's fields plus its Kafka coordinates (immutable).

    The first nine fields are the row's values in ``COLUMNS`` order, as text where
    ``StoredFields`` says so.
    """

    envelope_id: str
    topic: str
    partition: int
    offset: int
    event_type: str | None
    correlation_id: str | None
    envelope_timestamp: str
    payload_json: str
    metadata_json: str
    source: ProtocolRecordOrigin

    @classmethod
    def from_fields(cls, source: ProtocolRecordOrigin, fields: StoredFields) -> StoredEvent:
        """The row of ``fields`` (see ``envelope_codec.decode_stored_fields``) read at ``source``."""
        return cls(
            fields.envelope_id,
            source.topic,
            source.partition,
            source.offset,
            fields.event_type,
            fields.correlation_id,
            fields.envelope_timestamp,
            fields.payload_json,
            fields.metadata_json,
            source,
        )

    def record(self) -> tuple[object, ...]:
        """The row's values in ``COLUMNS`` order."""
        return self[:9]


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int
    rejected: tuple[tuple[StoredEvent, PoisonRecordError], ...]


@dataclass(frozen=True)
class OperationOutcome:
    """What the workflow publishes: the reply bytes, where, and an optional DLQ reason."""

    reply_topic: str
    reply_value: bytes
    reply_envelope_id: uuid.UUID
    duplicate: bool
    poison: PoisonRecordError | None


__all__ = [
    "ATTEMPTS_HEADER",
    "DLQ_SUFFIX",
    "HEADER_PREFIX",
    "MAX_MESSAGE_BYTES",
    "VALUE_DROPPED_HEADER",
    "DeadLetter",
    "OperationOutcome",
    "Partition",
    "ProtocolConsumerRecord",
    "SourceRecord",
    "StoredEvent",
    "StoredFields",
    "WriteResult",
    "dlq_topic_for",
    "is_dlq_topic",
    "prior_attempts",
    "read_dlq_headers",
    "timestamp_text",
    "uuid_text",
]
