"""postgres_adapter's part of ``infrastructure_state``: sample PostgreSQL, store each recorded change.

``health_check`` starts the round (from the run's ``Tick``) or adds to it: the
environment, the database's health check (an unhealthy sample naming the error when
it fails or takes longer than ``HEALTH_CHECK_TIMEOUT_SECONDS``), the pool statistics
and the PostgreSQL breaker's metrics.

``store_state_change`` writes a row in ``onex_infrastructure_state`` (+ history) for
each change the round recorded (published or spilled to the outbox). While
PostgreSQL is down (Kafka up, the event already published) the rows wait in this
node, in order, and a later round stores them before its own, in one transaction;
the published event is then the durable record of the change. ``stop()`` tries once
more before closing the pool (``store_pending_state_changes``).

``outbox_spill``: the ``onex_outbox`` spill over this node's pool, for the host to
register as ``ProtocolOutboxSpill`` (kafka_adapter spills the state events it cannot
publish there).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from omnibase_infra.infrastructure.infrastructure_health_monitor import sample_postgres
from omnibase_infra.models.model_infrastructure_state import ModelStateChangedIntent
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import HealthRound, Tick

if TYPE_CHECKING:
    from omnibase_infra.nodes.node_binding import NodeBinding
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.resources import PostgresResources
    from omnibase_infra.workflow.protocols import DbConnection

HEALTH_CHECK_TIMEOUT_SECONDS = 10.0
"""A health check that takes longer reports PostgreSQL unhealthy (the health monitor's bound)."""

logger = logging.getLogger(__name__)


class StateOperations:
    """Mixin of the postgres_adapter node (its resources and binding)."""

    if TYPE_CHECKING:

        @property
        def resources(self) -> PostgresResources: ...
        @property
        def binding(self) -> NodeBinding: ...

    _unstored_state: list[ModelStateChangedIntent] | None = None

    @operation(input=Tick, output=HealthRound)
    async def health_check(self, tick: Tick, step: StepContext) -> HealthRound:
        """The round with PostgreSQL's health, pool statistics and breaker metrics."""
        health = HealthRound.of(tick)
        resources = self.resources
        health.environment = str(self.binding.environment)
        health.postgres = await sample_postgres(resources.database, HEALTH_CHECK_TIMEOUT_SECONDS)
        health.postgres_stats = resources.database.get_connection_stats()
        health.breakers.append(resources.breaker.metrics())
        return health

    @operation(input=HealthRound)
    async def store_state_change(self, health: HealthRound, step: StepContext) -> HealthRound:
        """Store the rows of earlier rounds still waiting, then this round's recorded changes."""
        pending = self._pending_state()
        pending.extend(health.recorded_changes)
        health.stored = await self.store_pending_state_changes()
        health.unstored = len(pending)
        return health

    @property
    def unstored_state_changes(self) -> int:
        """Recorded changes whose rows are not in PostgreSQL yet."""
        return len(self._unstored_state or ())

    async def store_pending_state_changes(self) -> int:
        """Store the rows still waiting (a no-op when none wait); return how many were stored.

        A failure is logged and the rows stay for a later round: the event was recorded.
        """
        waiting = self._pending_state()
        if not waiting:
            return 0
        pending = list(waiting)
        resources = self.resources

        async def store() -> None:
            async with resources.database.acquire_connection() as conn, conn.transaction():
                for intent in pending:
                    await _store(conn, intent)

        try:
            await resources.breaker.call(store)
        except Exception as exc:
            logger.warning("state change not stored yet (%s); will retry", type(exc).__name__)
            return 0
        del waiting[: len(pending)]
        return len(pending)

    def _pending_state(self) -> list[ModelStateChangedIntent]:
        if self._unstored_state is None:
            object.__setattr__(self, "_unstored_state", [])
        assert self._unstored_state is not None
        return self._unstored_state


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


__all__ = ["HEALTH_CHECK_TIMEOUT_SECONDS", "StateOperations"]
