"""Workflow 4: health samples → summary → reducer → publish and store each change.

One ``step()`` per health-monitor interval:
1. ``summarise`` (message_aggregator) turns the health metrics into samples;
2. ``reduce`` (infrastructure_reducer, pure) folds them into the state and
   returns one intent per changed component;
3. each intent becomes a ``state-changed`` envelope handed to the publisher
   (the breaker-guarded event queue: while Kafka is down it waits in the
   bounded queue or spills to the outbox, never dropped) and a row in
   ``onex_infrastructure_state`` (+ history). A change that cannot be stored
   because PostgreSQL is down is kept and stored on a later step, so the table
   catches up when the database returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from omnibase_infra.models.model_health import InfrastructureHealthMetrics
from omnibase_infra.models.model_infrastructure_state import (
    ModelHealthSummary,
    ModelInfrastructureState,
    ModelStateChangedIntent,
    ModelStateChangedPayload,
)
from omnibase_infra.runtime.protocols import ProtocolConnectionSource, ProtocolGuard

if TYPE_CHECKING:
    from omnibase_infra.runtime.protocols import DbConnection

logger = logging.getLogger(__name__)

STATE_CHANGED_EVENT_TYPE = "onex.infrastructure.state.changed"

Summarise = Callable[[InfrastructureHealthMetrics], ModelHealthSummary]
Reduce = Callable[
    [ModelInfrastructureState, ModelHealthSummary],
    tuple[ModelInfrastructureState, list[ModelStateChangedIntent]],
]


class ProtocolEventPublisher(Protocol):
    """Publishes an event the service itself produces (queued while Kafka is down)."""

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None: ...


class InfrastructureStateWorkflow:
    """Runs workflow 4; see the module docstring."""

    def __init__(
        self,
        *,
        summarise: Summarise,
        reduce: Reduce,
        database: ProtocolConnectionSource,
        database_guard: ProtocolGuard,
        publisher: ProtocolEventPublisher,
        topic: str,
        encode: Callable[[ModelStateChangedPayload], bytes],
    ) -> None:
        self._summarise = summarise
        self._reduce = reduce
        self._database = database
        self._db_guard = database_guard
        self._publisher = publisher
        self._topic = topic
        self._encode = encode
        self.state = ModelInfrastructureState()
        self._unstored: list[ModelStateChangedIntent] = []
        self.published = 0

    async def step(self, metrics: InfrastructureHealthMetrics) -> list[ModelStateChangedIntent]:
        """Fold one health sample, publish and store the changes; return them."""
        self.state, intents = self._reduce(self.state, self._summarise(metrics))
        for intent in intents:
            payload = ModelStateChangedPayload(
                component=intent.component,
                previous_status=intent.previous_status,
                status=intent.status,
                reason=intent.reason,
                overall_status=self.state.overall,
                changed_at=intent.changed_at,
                environment=metrics.environment,
            )
            await self._publisher.publish(
                self._topic, self._encode(payload), key=intent.component.encode("utf-8")
            )
            self.published += 1
            logger.info(
                "infrastructure state changed",
                extra={"component": intent.component, "status": intent.status},
            )
        self._unstored.extend(intents)
        await self._store_pending()
        return intents

    async def _store_pending(self) -> None:
        if not self._unstored:
            return
        pending = list(self._unstored)

        async def store() -> None:
            async with self._database.acquire_connection() as conn, conn.transaction():
                for intent in pending:
                    await _store(conn, intent)

        try:
            await self._db_guard.call(store)
        except Exception as exc:
            logger.warning("state change not stored yet (%s); will retry", type(exc).__name__)
            return
        del self._unstored[: len(pending)]


async def _store(conn: DbConnection, intent: ModelStateChangedIntent) -> None:
    await conn.execute(
        "INSERT INTO onex_infrastructure_state (component, status, reason, updated_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (component) DO UPDATE "
        "SET status = EXCLUDED.status, reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at",
        intent.component,
        intent.status,
        intent.reason,
        intent.changed_at,
    )
    await conn.execute(
        "INSERT INTO onex_infrastructure_state_history "
        "(component, previous_status, status, reason, changed_at) VALUES ($1, $2, $3, $4, $5)",
        intent.component,
        intent.previous_status,
        intent.status,
        intent.reason,
        intent.changed_at,
    )


__all__ = ["STATE_CHANGED_EVENT_TYPE", "InfrastructureStateWorkflow", "ProtocolEventPublisher"]
