"""Workflow 4: health samples → summary → reducer → publish and store each change.

One ``step()`` per health-monitor interval:
1. ``summarise`` (message_aggregator) turns the health metrics into samples;
2. ``reduce`` (infrastructure_reducer, pure) folds them into a candidate state
   and returns one intent per changed component;
3. each intent becomes a ``state-changed`` envelope, recorded in order through
   the publisher, which returns only once the event is acknowledged by Kafka or
   stored in the outbox (``onex_outbox``, published later by the relay), and
   raises when it could do neither (Kafka and PostgreSQL both down);
4. the state advances by exactly the changes that were recorded. A change that
   could not be recorded is not applied: the state keeps that component's
   previous status, so the next step computes the change again and retries it.
   Nothing is reported as a transition that was never recorded;
5. each recorded change becomes a row in ``onex_infrastructure_state`` (+
   history). While PostgreSQL is down (Kafka up, the event already published)
   the rows wait for a later step, which stores them before its own; the
   published event is then the durable record of the change.
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
from omnibase_infra.workflow.envelopes import STATE_CHANGED_EVENT_TYPE
from omnibase_infra.workflow.protocols import ProtocolConnectionSource, ProtocolGuard

if TYPE_CHECKING:
    from omnibase_infra.workflow.protocols import DbConnection

logger = logging.getLogger(__name__)


Summarise = Callable[[InfrastructureHealthMetrics], ModelHealthSummary]
Reduce = Callable[
    [ModelInfrastructureState, ModelHealthSummary],
    tuple[ModelInfrastructureState, list[ModelStateChangedIntent]],
]


class ProtocolEventPublisher(Protocol):
    """Records an event the service itself produces."""

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Return once the event is acknowledged by the broker or stored durably; raise otherwise."""
        ...


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

    @property
    def unstored(self) -> int:
        """Recorded changes whose rows are not in PostgreSQL yet."""
        return len(self._unstored)

    async def step(self, metrics: InfrastructureHealthMetrics) -> list[ModelStateChangedIntent]:
        """Fold one health sample, record and store its changes; return the changes recorded."""
        candidate, intents = self._reduce(self.state, self._summarise(metrics))
        recorded: list[ModelStateChangedIntent] = []
        for position, intent in enumerate(intents):
            # The overall status once this change (and the ones before it) are applied: a later
            # change of the round may yet fail to be recorded, and then it is not applied.
            applied = _advance(self.state, candidate, intents[position + 1 :])
            payload = ModelStateChangedPayload(
                component=intent.component,
                previous_status=intent.previous_status,
                status=intent.status,
                reason=intent.reason,
                overall_status=applied.overall,
                changed_at=intent.changed_at,
                environment=metrics.environment,
            )
            value = self._encode(payload)
            try:
                await self._publisher.publish(self._topic, value, key=intent.component.encode("utf-8"))
            except Exception as exc:
                # Later changes wait too: events of one round keep their order.
                logger.warning(
                    "infrastructure state change not recorded (%s); the next round tries again",
                    type(exc).__name__,
                    extra={"component": intent.component, "status": intent.status},
                )
                break
            recorded.append(intent)
            self.published += 1
            logger.info(
                "infrastructure state changed",
                extra={"component": intent.component, "status": intent.status},
            )
        self.state = _advance(self.state, candidate, intents[len(recorded) :])
        self._unstored.extend(recorded)
        await self._store_pending()
        return recorded

    async def store_pending(self) -> None:
        """Store the rows of recorded changes still waiting for PostgreSQL (a no-op when none wait)."""
        await self._store_pending()

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


def _advance(
    state: ModelInfrastructureState,
    candidate: ModelInfrastructureState,
    unrecorded: list[ModelStateChangedIntent],
) -> ModelInfrastructureState:
    """``candidate``, except that each unrecorded change is undone (its component keeps ``state``'s)."""
    if not unrecorded:
        return candidate
    components = dict(candidate.components)
    for intent in unrecorded:
        previous = state.components.get(intent.component)
        if previous is None:
            del components[intent.component]
        else:
            components[intent.component] = previous
    return ModelInfrastructureState(components=components, version=candidate.version - len(unrecorded))


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
