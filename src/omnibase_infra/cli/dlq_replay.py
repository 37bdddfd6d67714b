"""Replaying DLQ records to their original topics for ``onex-infra dlq replay``.

``plan_replay`` decides, per record, without I/O:

- ``replay`` to the topic named by ``onex.dlq.original.topic``;
- ``filtered`` when ``--stage`` names another stage;
- ``refused`` when the record has no original topic header, when that topic is itself
  a DLQ topic (a replay never writes onto a DLQ), or when the DLQ writer dropped its
  value (``onex.dlq.value.dropped``: the original was too large to copy; replaying it
  would publish an empty record). The reason names the original's coordinates.

``send_replays`` publishes the ``replay`` ones in DLQ order with the original key, value
and headers (every header except ``onex.dlq.*``, plus ``onex.dlq.attempts``, so that a
record failing again counts on) and waits for every acknowledgement
(acks=all, idempotent producer). Up to ``WINDOW`` sends are in flight; once a failure
has been seen, nothing more is enqueued (the records after it are "not attempted").
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from omnibase_infra.cli.dlq_records import DlqRecord
from omnibase_infra.workflow.records import is_dlq_topic

if TYPE_CHECKING:
    from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig

Outcome = Literal["replay", "filtered", "refused"]
WINDOW = 100  # sends in flight before the oldest acknowledgement is awaited


@dataclass(frozen=True)
class ReplayDecision:
    record: DlqRecord
    outcome: Outcome
    target: str | None = None
    reason: str = ""


def plan_replay(records: Sequence[DlqRecord], stage: str | None = None) -> list[ReplayDecision]:
    """One decision per record, in the records' order (see the module docstring)."""
    decisions: list[ReplayDecision] = []
    for record in records:
        if stage is not None and record.stage != stage:
            decisions.append(ReplayDecision(record, "filtered", reason=f"stage is {record.stage or '-'}"))
            continue
        target = record.original_topic
        if target is None:
            reason = "no onex.dlq.original.topic header: not a dead letter written by omnibase_infra"
            decisions.append(ReplayDecision(record, "refused", reason=reason))
        elif is_dlq_topic(target):
            reason = f"original topic {target} is a DLQ topic: refusing to replay onto a DLQ"
            decisions.append(ReplayDecision(record, "refused", target, reason))
        elif record.dropped_value_bytes is not None:
            reason = (
                f"its value ({record.dropped_value_bytes} bytes) was dropped when it was dead-lettered "
                f"(too large to copy); replaying it would publish an empty record; "
                f"the original is {record.original_coordinates}"
            )
            decisions.append(ReplayDecision(record, "refused", target, reason))
        else:
            decisions.append(ReplayDecision(record, "replay", target))
    return decisions


class ProtocolReplaySender(Protocol):
    """Enqueues one record; the returned future resolves on the broker's acknowledgement."""

    async def enqueue(
        self, topic: str, value: bytes, key: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> asyncio.Future[Any]: ...


@dataclass
class ReplayResult:
    replayed: int = 0
    failed: int = 0
    not_attempted: int = 0
    first_error: str = ""
    failed_at: DlqRecord | None = None


async def send_replays(
    decisions: Sequence[ReplayDecision],
    sender: ProtocolReplaySender,
    *,
    timeout_seconds: float,
    on_ack: Callable[[], None] = lambda: None,
) -> ReplayResult:
    """Send every ``replay`` decision in order; stop enqueuing after the first failure."""
    result = ReplayResult()
    todo = [d for d in decisions if d.outcome == "replay"]
    in_flight: deque[tuple[DlqRecord, asyncio.Future[Any]]] = deque()

    async def settle_oldest() -> None:
        record, ack = in_flight.popleft()
        try:
            await asyncio.wait_for(ack, timeout_seconds)
        except Exception as exc:
            result.failed += 1
            if result.failed_at is None:
                result.failed_at = record
                result.first_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            result.replayed += 1
            on_ack()

    for index, decision in enumerate(todo):
        while in_flight and in_flight[0][1].done():
            await settle_oldest()
        if result.failed:
            result.not_attempted = len(todo) - index
            break
        record = decision.record
        assert decision.target is not None  # a "replay" decision always has its target
        try:
            ack = await asyncio.wait_for(
                sender.enqueue(decision.target, record.value or b"", record.key, record.replay_headers()),
                timeout_seconds,
            )
        except Exception as exc:
            result.failed += 1
            result.failed_at = record
            result.first_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            result.not_attempted = len(todo) - index - 1
            break
        in_flight.append((record, ack))
        if len(in_flight) >= WINDOW:
            await settle_oldest()
    while in_flight:
        await settle_oldest()
    return result


class KafkaReplaySender:
    """``ProtocolReplaySender`` over the service's aiokafka producer adapter (acks=all, idempotent)."""

    def __init__(self, bootstrap: str, security: ModelKafkaSecurityConfig, timeout_seconds: float) -> None:
        from omnibase_infra.infrastructure.kafka_producer_adapter import AIOKafkaProducerAdapter
        from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig

        request_ms = max(int(timeout_seconds * 1000), 1000)
        config = ModelKafkaProducerConfig(
            bootstrap_servers=bootstrap,
            client_id="onex-infra-dlq-replay",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=request_ms,
            delivery_timeout_ms=max(request_ms, 120_000),
            security=security,
        )
        self._producer = AIOKafkaProducerAdapter(config, config.client_id)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def enqueue(
        self, topic: str, value: bytes, key: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> asyncio.Future[Any]:
        return await self._producer.enqueue(topic, value, key, headers, None)


__all__ = [
    "KafkaReplaySender",
    "ProtocolReplaySender",
    "ReplayDecision",
    "ReplayResult",
    "plan_replay",
    "send_replays",
]
