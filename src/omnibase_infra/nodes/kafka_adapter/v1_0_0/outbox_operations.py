"""kafka_adapter's side of the outbox relay: ``publish_outbox`` sends a claimed round's rows.

postgres_adapter's ``claim_outbox_batch`` claims the rows (its module docstring lists
the relay's guarantees) and ``mark_outbox_published`` marks what this step reports:
per chain, the ids the broker acknowledged, the row that failed (and whether it is
poison) and whether an outage stopped it.

A chain is one (topic, key)'s rows, sent one after another; a keyless row is a chain of
its own. Chains are sent side by side within the round's ``send_budget_seconds``; a
chain still sending when the budget runs out is cancelled and counts as an outage for
its unsent rows. Each row is checked first: the topic ACL (``require_relayable``), its
headers (a JSON array of ``[name, base64 value]`` pairs), its topic's existence on the
brokers (never created); any of those failing, or the broker refusing the record, makes
it poison (``PoisonRecordError``, stage ``outbox``). Every broker call (the topic lookup,
the send) runs under the Kafka breaker; an outage stops the chain without a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.infrastructure.outbox_spill import decode_headers
from omnibase_infra.workflow.operations import SAME, StepContext, operation
from omnibase_infra.workflow.payloads import ChainResult, OutboxRound, RowFailure

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.clock import Clock
    from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
    from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
    from omnibase_infra.workflow.protocols import Headers, ProtocolTopicAcl

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
        """Publish the claimed rows, chains side by side, within ``send_budget`` seconds.

        A chain still sending when the budget runs out is cancelled and counts as an
        outage for its unsent rows (no attempt counted, they stay pending); what it got
        acknowledged before is kept in its result and marked.
        """
        chains: dict[tuple[str, bytes] | int, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            # A keyless row has no order: it is a chain of its own and waits for nobody.
            key: bytes | None = row["key"]
            chains[int(row["id"]) if key is None else (row["topic"], key)].append(row)
        results = [ChainResult([], [], False) for _ in chains]
        tasks = [
            asyncio.ensure_future(self._publish_chain(chain, result))
            for chain, result in zip(chains.values(), results, strict=True)
        ]
        if not tasks:
            return results
        _, late = await asyncio.wait(tasks, timeout=send_budget)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if task in late:
                result.outage = True
            elif (error := task.exception()) is not None:
                raise error
        if late:
            logger.warning(
                "outbox relay: %d chain(s) not done within the send budget of %.1f s; "
                "their unsent rows stay pending",
                len(late),
                send_budget,
            )
        return results

    async def _publish_chain(
        self, chain: list[asyncpg.Record], result: ChainResult | None = None
    ) -> ChainResult:
        """Send one chain's rows in order into ``result``; stop at the first one not acknowledged."""
        result = ChainResult([], [], False) if result is None else result
        producers = self.producers
        for row in chain:
            try:
                headers = await self._prepare(row)

                async def send(row: asyncpg.Record = row, headers: Headers = headers) -> tuple[int, int]:
                    return await producers.send(
                        row["topic"], bytes(row["payload"]), key=row["key"], headers=headers
                    )

                await self.breaker.call(send)
            except Exception as exc:
                if is_outage(exc):
                    result.outage = True
                else:
                    poison = isinstance(exc, PoisonRecordError)
                    result.failed.append((row, RowFailure(_error_text(exc), poison)))
                return result
            result.published.append(int(row["id"]))
        return result

    async def _prepare(self, row: asyncpg.Record) -> Headers:
        """The row's headers, once its topic and headers passed; ``PoisonRecordError`` otherwise."""
        topic: str = row["topic"]
        if self._acl is not None:
            self._acl.require_relayable(topic, service_row=row["origin"] == "service")
        try:
            headers = list(decode_headers(row["headers"]))
        except ValueError as exc:
            raise PoisonRecordError(STAGE, "MalformedHeaders", str(exc)) from None
        directory = self.producers

        async def exists() -> bool:
            return await directory.topic_exists(topic)

        if not await self.breaker.call(exists):
            raise PoisonRecordError(
                STAGE,
                "UnknownTopic",
                f"topic {topic} does not exist on the brokers (the relay never creates topics)",
            )
        return headers


__all__ = ["STAGE", "OutboxPublishOperations"]
