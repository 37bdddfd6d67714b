"""Reading a DLQ topic for ``onex-infra dlq``: records, their ``onex.dlq.*`` context, selections.

``read_dlq`` reads partitions from a start offset up to the end offset it saw when it
started, through an aiokafka consumer with no consumer group: nothing is committed and
no group is created. A topic that does not exist is reported, never auto-created.

``OffsetSelection`` is the parsed ``--offsets`` value: ``3,5-9`` (offsets of the one
partition, or of ``--partition``) and ``P:3,P:5-9`` (offsets of partition P).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omnibase_infra.workflow.records import (
    ATTEMPTS_HEADER,
    HEADER_PREFIX,
    dlq_topic_for,
    is_dlq_topic,
    read_dlq_headers,
)

if TYPE_CHECKING:
    from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig


class TopicMissing(Exception):
    """The topic does not exist on the cluster."""


class SelectionError(ValueError):
    """The offsets or partition asked for do not fit the topic (a usage error)."""


def resolve_dlq_topic(topic: str) -> str:
    """``T.dlq`` stays; a source topic ``T`` becomes ``T.dlq``."""
    return topic if is_dlq_topic(topic) else dlq_topic_for(topic)


@dataclass(frozen=True)
class DlqRecord:
    """One record of a DLQ topic with its decoded ``onex.dlq.*`` context."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    context: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        partition: int,
        offset: int,
        timestamp_ms: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]],
    ) -> DlqRecord:
        kept = tuple((str(k), bytes(v) if v is not None else b"") for k, v in headers)
        return cls(partition, offset, timestamp_ms, key, value, kept, read_dlq_headers(kept))

    @property
    def original_topic(self) -> str | None:
        return self.context.get("original.topic") or None

    @property
    def stage(self) -> str | None:
        return self.context.get("stage")

    @property
    def original_coordinates(self) -> str:
        """``topic/partition@offset`` of the record before it was dead-lettered (``-`` if unknown)."""
        topic = self.original_topic
        if topic is None:
            return "-"
        partition = self.context.get("original.partition", "?")
        return f"{topic}/{partition}@{self.context.get('original.offset', '?')}"

    @property
    def dropped_value_bytes(self) -> int | None:
        """The original value's size when the DLQ writer dropped the value (``onex.dlq.value.dropped``)."""
        dropped = self.context.get("value.dropped")
        if dropped is None:
            return None
        return _int_or_none(dropped) or 0

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """The original headers (every header except ``onex.dlq.*``) in their order, then
        ``onex.dlq.attempts``: a record that fails again is dead-lettered with the count carried on."""
        kept = [(k, v) for k, v in self.headers if not k.startswith(HEADER_PREFIX)]
        attempts = [(k, v) for k, v in self.headers if k == ATTEMPTS_HEADER]
        return kept + attempts[:1]

    def as_json(self) -> dict[str, object]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
            "key": _text_or_base64(self.key),
            "value_bytes": len(self.value) if self.value is not None else None,
            "original_topic": self.original_topic,
            "original_partition": _int_or_none(self.context.get("original.partition")),
            "original_offset": _int_or_none(self.context.get("original.offset")),
            "stage": self.stage,
            "error_class": self.context.get("error.class"),
            "error_message": self.context.get("error.message"),
            "attempts": _int_or_none(self.context.get("attempts")),
            "failed_at": self.context.get("failed_at"),
            "value_dropped_bytes": self.dropped_value_bytes,
            "headers": [k for k, _ in self.headers if not k.startswith(HEADER_PREFIX)],
        }


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _text_or_base64(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class OffsetSelection:
    """Offset ranges (inclusive) per partition; ``None`` as partition means "the partition"."""

    ranges: dict[int | None, tuple[tuple[int, int], ...]]

    @property
    def unqualified(self) -> bool:
        return None in self.ranges

    def bound(
        self, partitions: Iterable[int], default_partition: int | None
    ) -> dict[int, list[tuple[int, int]]]:
        """Ranges per concrete partition; bare ranges go to ``default_partition``."""
        bound: dict[int, list[tuple[int, int]]] = {}
        for partition, ranges in self.ranges.items():
            target = default_partition if partition is None else partition
            if target is None:
                raise SelectionError(
                    "bare offsets need --partition (or PARTITION:OFFSETS) on a topic with several partitions"
                )
            bound.setdefault(target, []).extend(ranges)
        unknown = sorted(set(bound) - set(partitions))
        if unknown:
            raise SelectionError(f"the topic has no partition {', '.join(map(str, unknown))}")
        return bound


def parse_offsets(text: str) -> OffsetSelection:
    """Parse ``3,5-9,1:4,1:10-12``; raises ``argparse.ArgumentTypeError`` (exit 2) when malformed."""
    ranges: dict[int | None, list[tuple[int, int]]] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        partition: int | None = None
        if ":" in item:
            head, _, item = item.partition(":")
            partition = _non_negative(head, raw)
        low_text, dash, high_text = item.partition("-")
        low = _non_negative(low_text, raw)
        high = _non_negative(high_text, raw) if dash else low
        if high < low:
            raise argparse.ArgumentTypeError(f"{raw.strip()!r}: range ends before it starts")
        ranges.setdefault(partition, []).append((low, high))
    if not ranges:
        raise argparse.ArgumentTypeError("no offsets given (e.g. 3,5-9 or 0:3,1:5-9)")
    return OffsetSelection({p: tuple(r) for p, r in ranges.items()})


def _non_negative(text: str, item: str) -> int:
    value = text.strip()
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{item.strip()!r} is not OFFSET, FIRST-LAST or PARTITION:OFFSETS")
    return int(value)


@dataclass(frozen=True)
class PartitionWindow:
    """Read ``partition`` from ``start`` (inclusive) to ``stop`` (exclusive; ``None``: its end)."""

    partition: int
    start: int = 0
    stop: int | None = None


@dataclass
class DlqRead:
    topic: str
    partitions: list[int]
    records: list[DlqRecord]
    total: int
    """Records the windows held when reading started (the listing may be cut at ``limit``)."""


async def read_dlq(
    topic: str,
    *,
    bootstrap: str,
    security: ModelKafkaSecurityConfig,
    windows: Callable[[list[int]], list[PartitionWindow]] | None = None,
    limit: int | None = None,
    timeout_seconds: float = 10.0,
) -> DlqRead:
    """Read ``topic``, at most ``limit`` records.

    ``windows`` maps the topic's partition ids to the windows to read (every partition
    from its beginning when ``None``); a ``ValueError`` it raises propagates.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]  # untyped library

    from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import security_kwargs

    client = {
        "bootstrap_servers": bootstrap,
        "client_id": "onex-infra-dlq",
        "request_timeout_ms": max(int(timeout_seconds * 1000), 1000),
        **security_kwargs(security),
    }
    partitions = await _partitions(topic, client, timeout_seconds)
    wanted = windows(partitions) if windows is not None else [PartitionWindow(p) for p in partitions]
    consumer: Any = AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", **client
    )
    try:
        async with asyncio.timeout(timeout_seconds):
            await consumer.start()
        records: list[DlqRecord] = []
        total = 0
        for window in wanted:
            if window.partition not in partitions:
                continue
            tp = TopicPartition(topic, window.partition)
            consumer.assign([tp])
            async with asyncio.timeout(timeout_seconds):
                first = (await consumer.beginning_offsets([tp]))[tp]
                end = (await consumer.end_offsets([tp]))[tp]
            start = max(first, window.start)
            stop = end if window.stop is None else min(end, window.stop)
            if stop <= start:
                continue
            total += stop - start
            room = None if limit is None else limit - len(records)
            if room is not None and room <= 0:
                continue
            consumer.seek(tp, start)
            records.extend(await _read_window(consumer, tp, window.partition, stop, room, timeout_seconds))
        return DlqRead(topic, partitions, records, total)
    finally:
        await consumer.stop()


async def _partitions(topic: str, client: dict[str, Any], timeout_seconds: float) -> list[int]:
    """The topic's partition ids; ``TopicMissing`` when it does not exist.

    Asked through the admin client: listing every topic never auto-creates one, whereas
    a consumer's metadata request for a missing topic can create it.
    """
    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]  # untyped library

    admin: Any = AIOKafkaAdminClient(**client)
    try:
        async with asyncio.timeout(timeout_seconds):
            await admin.start()
            if topic not in await admin.list_topics():
                raise TopicMissing(topic)
            described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(int(p["partition"]) for p in described[0]["partitions"])


async def _read_window(
    consumer: Any, tp: Any, partition: int, stop: int, room: int | None, timeout_seconds: float
) -> list[DlqRecord]:
    """Records of one assigned partition up to ``stop``; a quiet ``timeout_seconds`` ends the read."""
    records: list[DlqRecord] = []
    loop = asyncio.get_running_loop()
    quiet_until = loop.time() + timeout_seconds
    while await consumer.position(tp) < stop and (room is None or len(records) < room):
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=500)
        fetched = batch.get(tp, [])
        if fetched:
            quiet_until = loop.time() + timeout_seconds
        elif loop.time() > quiet_until:
            break  # e.g. the rest are aborted-transaction records or compacted away
        for r in fetched:
            if r.offset >= stop or (room is not None and len(records) >= room):
                break
            records.append(DlqRecord.of(partition, r.offset, r.timestamp, r.key, r.value, r.headers or ()))
    return records


__all__ = [
    "DlqRead",
    "DlqRecord",
    "OffsetSelection",
    "PartitionWindow",
    "SelectionError",
    "TopicMissing",
    "parse_offsets",
    "read_dlq",
    "resolve_dlq_topic",
]
