"""kafka_adapter's side of the outbox relay: ``publish_outbox`` sends a claimed round's rows.

postgres_adapter's ``claim_outbox_batch`` claims the rows (its module docstring lists
the relay's guarantees) and ``mark_outbox_published`` marks what this step reports:
per chain, the ids the broker acknowledged, the row that failed (and whether it is
poison) and whether an outage stopped it.

A chain is one (topic, key)'s rows in id order; a keyless row is a chain of its own.
Each row is checked first: the topic ACL (``require_relayable``), its headers (a JSON
array of ``[name, base64 value]`` pairs), its topic's existence on the brokers (never
created; asked once per topic and round); any of those failing, or the producer or the
broker refusing the record, makes it poison (``PoisonRecordError``, stage ``outbox``)
and stops its chain: no later row of the chain is sent.

The whole round goes through one producer (a ``lane`` of the pool), under one Kafka
breaker call: every row is buffered at once and the acks are awaited afterwards, so a
round costs a few produce requests and one wait, not one round trip per row. Order per
key holds because a key's rows are buffered on that one producer in id order and land
on one partition: aiokafka sends one batch per partition at a time and retries a failed
one in place (it never expires a batch when idempotent), and the idempotent producer's
sequence numbers make the broker refuse any batch behind a lost one, so a row is never
acknowledged after an earlier row of its key failed. A producer without
``enable_idempotence`` has no such guarantee: then each chain waits for a row's ack
before buffering the next (the chains still run side by side). Rows acknowledged in a
chain are reported published; the chain's first failure is reported and its later
rows stay pending (were one acknowledged anyway, it is reported published too, as it
is on the topic, and logged as an order violation).

The sends have the round's ``send_budget_seconds``: a chain not done by then is
cancelled (the pool aborts the producer, failing what it still buffered) and counts as
an outage for its unsent rows. An outage (the breaker open, the brokers unreachable,
the breaker's own timeout) stops the chains it reaches without counting a failure;
the first one met is raised inside the breaker call so the breaker counts the round's
outage once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.outbox_spill import decode_headers
from omnibase_infra.workflow.operations import SAME, StepContext, operation
from omnibase_infra.workflow.payloads import ChainResult, OutboxRound, RowFailure

if TYPE_CHECKING:
    from collections.abc import Callable

    import asyncpg

    from omnibase_infra.clock import Clock
    from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
    from omnibase_infra.infrastructure.kafka_producer_lane import Lane, ProtocolDelivery
    from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
    from omnibase_infra.infrastructure.kafka_producer_protocol import Header
    from omnibase_infra.workflow.protocols import ProtocolTopicAcl

logger = logging.getLogger(__name__)

STAGE = "outbox"
MAX_ERROR_CHARS = 500


def _error_text(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, PoisonRecordError) else f"{type(exc).__name__}: {exc}"
    # PostgreSQL text cannot hold NUL; a message quoting bad data could.
    return text.replace("\x00", "\\0")[:MAX_ERROR_CHARS]


class OutboxPublishOperations:
    """Mixin of the kafka_adapter node (its producers, which also answer ``topic_exists``, breaker, ACL)."""

    if TYPE_CHECKING:

        @property
        def producers(self) -> KafkaProducerPool: ...
        @property
        def breaker(self) -> EventBusCircuitBreaker: ...

        _acl: ProtocolTopicAcl | None
        _clock: Clock

    @operation(input=OutboxRound, output=SAME)
    async def publish_outbox(self, round_: OutboxRound, step: StepContext) -> OutboxRound:
        """Send the round's rows, chain by chain, within its send budget; see the module docstring."""
        round_.dead_letter_enabled = self.breaker.config.dead_letter_enabled
        round_.chains = await self._publish_rows(round_.rows, round_.send_budget_seconds)
        return round_

    async def _publish_rows(self, rows: list[asyncpg.Record], send_budget: float) -> list[ChainResult]:
        """Publish the claimed rows on one lane, chains side by side, within ``send_budget`` seconds."""
        chains: dict[tuple[str, bytes] | int, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            # A keyless row has no order: it is a chain of its own and waits for nobody.
            key: bytes | None = row["key"]
            chains[int(row["id"]) if key is None else (row["topic"], key)].append(row)
        results = [ChainResult([], [], False) for _ in chains]
        if not chains:
            return results
        pipelined = self.producers.config.enable_idempotence
        topics: dict[str, asyncio.Future[bool]] = {}
        finished: set[int] = set()
        late = 0

        async def send_all() -> None:
            nonlocal late
            async with self.producers.lane() as lane:
                buffering = len(chains)

                def buffered() -> None:  # the round's batches go once every chain is buffered
                    nonlocal buffering
                    buffering -= 1
                    if buffering == 0:
                        lane.send_buffered()

                tasks = [
                    asyncio.ensure_future(
                        self._publish_chain(lane, chain, result, topics, pipelined, buffered)
                    )
                    for chain, result in zip(chains.values(), results, strict=True)
                ]
                try:
                    _, pending = await asyncio.wait(tasks, timeout=send_budget)
                finally:  # the budget ran out, or the breaker's timeout cancelled us
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            late = len(pending)
            outages: list[Exception] = []
            for index, task in enumerate(tasks):
                if task in pending:
                    continue
                if (error := task.exception()) is not None:
                    raise error  # not an outcome of a row: the round rolls back
                finished.add(index)
                if (outage := task.result()) is not None:
                    outages.append(outage)
            if outages:
                raise outages[0]  # counted once by the breaker; the results say the rest

        try:
            await self.breaker.call(send_all)
        except Exception as exc:
            if not is_outage(exc):
                raise
        for index, result in enumerate(results):
            if index not in finished:
                result.outage = True  # cut by the budget, the breaker's timeout, or never sent
        if late:
            logger.warning(
                "outbox relay: %d chain(s) not done within the send budget of %.1f s; "
                "their unsent rows stay pending",
                late,
                send_budget,
            )
        return results

    async def _publish_chain(
        self,
        lane: Lane,
        chain: list[asyncpg.Record],
        result: ChainResult,
        topics: dict[str, asyncio.Future[bool]],
        pipelined: bool,
        buffered: Callable[[], None],
    ) -> Exception | None:
        """Buffer one chain's rows in order, then await their acks, into ``result``.

        Buffering stops at the first row that fails its checks or that the producer
        refuses (and, when not ``pipelined``, at the first row not acknowledged: each
        ack is awaited before the next row is buffered). Returns the outage that stopped
        the chain, if one did.
        """
        pending: list[tuple[asyncpg.Record, ProtocolDelivery]] = []
        refused: tuple[asyncpg.Record, Exception] | None = None
        for row in chain:
            try:
                headers = self._headers(row)
                answer = topics.get(row["topic"])
                if answer is None or not answer.done() or not answer.result():
                    await self._require_topic(row["topic"], topics)
                event = OutboundEvent(row["topic"], bytes(row["payload"]), row["key"], headers)
                delivery = await lane.enqueue(event)
                if not pipelined:
                    lane.send_buffered()
                    await delivery.ack()
                    result.published.append(int(row["id"]))
                    continue
            except Exception as exc:
                refused = (row, exc)
                break
            pending.append((row, delivery))
        buffered()
        failed: tuple[asyncpg.Record, Exception] | None = None
        for row, delivery in pending:
            try:
                await delivery.ack()
            except Exception as exc:
                failed = failed or (row, exc)
                continue
            if failed is not None:
                logger.error(
                    "outbox row %s (topic %s) was acknowledged after row %s of its key failed: "
                    "the key's order is broken on the topic",
                    row["id"],
                    row["topic"],
                    failed[0]["id"],
                )
            result.published.append(int(row["id"]))
        first = failed or refused
        if first is None:
            return None
        failed_row, error = first
        if is_outage(error):
            result.outage = True
            return error
        poison = isinstance(error, PoisonRecordError)
        result.failed.append((failed_row, RowFailure(_error_text(error), poison)))
        return None

    def _headers(self, row: asyncpg.Record) -> tuple[Header, ...]:
        """The row's headers, once the topic ACL and the headers passed; ``PoisonRecordError`` otherwise."""
        if self._acl is not None:
            self._acl.require_relayable(row["topic"], service_row=row["origin"] == "service")
        stored: str | None = row["headers"]
        if stored == "[]":
            return ()  # most rows have none
        try:
            return decode_headers(stored)
        except ValueError as exc:
            raise PoisonRecordError(STAGE, "MalformedHeaders", str(exc)) from None

    async def _require_topic(self, topic: str, topics: dict[str, asyncio.Future[bool]]) -> None:
        """``PoisonRecordError`` unless ``topic`` exists on the brokers.

        Asked once per topic and round (``topics``), shared by its chains; a chain only gets
        here while the answer is not known to be yes."""
        answer = topics.get(topic)
        if answer is None:
            answer = topics[topic] = asyncio.ensure_future(self.producers.topic_exists(topic))
            answer.add_done_callback(_retrieve)
        if not (answer.result() if answer.done() else await asyncio.shield(answer)):
            raise PoisonRecordError(
                STAGE,
                "UnknownTopic",
                f"topic {topic} does not exist on the brokers (the relay never creates topics)",
            )


def _retrieve(future: asyncio.Future[bool]) -> None:
    """Retrieve a topic lookup's failure: every chain that asked got it, or was cancelled."""
    if not future.cancelled():
        future.exception()


__all__ = ["STAGE", "OutboxPublishOperations"]
