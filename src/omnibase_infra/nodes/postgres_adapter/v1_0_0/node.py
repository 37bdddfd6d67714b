"""postgres_adapter (EFFECT): every PostgreSQL side effect, with its own pool, breaker and SQL.

Built from its contract and the settings alone (``resources.build_postgres_resources``):
``initialize()`` binds the contract and builds the pool, the circuit breaker and the
operation executor (no I/O); ``start()`` connects and checks the schema version;
``stop()`` closes the pool. Collaborators it takes from the container when present:
the clock, breaker listeners (metrics, audit), the reply addressing and topic ACL of
group_gateway, a workflow observer, and the credential store's password source.

Workflow operations (``@operation``, one call per payload): ``store_event_batch`` here;
the command operations in ``command_operations``; ``health_check`` and
``store_state_change`` (infrastructure_state) in ``state_operations``. ``outbox_spill``
is the ``onex_outbox`` spill over this node's pool, for the host to register as
``ProtocolOutboxSpill`` (kafka_adapter's durable state events); the outbox relay's
``claim_outbox_batch`` and ``mark_outbox_published`` (and ``pending_count()``, the
outbox-pending gauge) in ``outbox_operations``. The typed request API ``execute()``
(an operation, an event-store write, a health check) serves applications that use the
node on its own.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pydantic_core
from omnibase_core.models.effect.model_effect_input import ModelEffectInput
from omnibase_core.models.effect.model_effect_output import ModelEffectOutput
from omnibase_core.nodes.node_effect import NodeEffect

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import LifecycleError, UnsupportedRequestError
from omnibase_infra.infrastructure.error_classification import is_outage, qualified_name, sqlstate_of
from omnibase_infra.infrastructure.outbox_spill import PostgresOutboxSpill
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.command_operations import CommandOperations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import (
    ROWS_PER_WRITE_CONNECTION,
    merge_results,
    split_for_connections,
    write_events,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
    ModelEventStoreWriteRequest,
    ModelEventStoreWriteResult,
    ModelHealthCheckResult,
    ModelOperationRequest,
    ModelPostgresAdapterInput,
    ModelPostgresAdapterOutput,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.outbox_operations import OutboxOperations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.resources import PostgresResources, build_postgres_resources
from omnibase_infra.nodes.postgres_adapter.v1_0_0.state_operations import StateOperations
from omnibase_infra.observability.spans import trace_database_operation
from omnibase_infra.protocols.protocol_clock import ProtocolClock
from omnibase_infra.protocols.protocol_credential_provider import ProtocolCredentialProvider
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import EventBatch
from omnibase_infra.workflow.protocols import (
    ProtocolBreakerListener,
    ProtocolReplyAddressing,
    ProtocolTopicAcl,
    ProtocolWorkflowObserver,
    notify,
)
from omnibase_infra.workflow.records import (
    DeadLetter,
    SourceRecord,
    StoredEvent,
    WriteResult,
    timestamp_text,
    uuid_text,
)

NODE_NAME = "postgres_adapter"
DEFAULT_MAX_REQUEST_SIZE = 1_048_576

logger = logging.getLogger(__name__)


class NodePostgresAdapterEffect(
    ContractBound, CommandOperations, StateOperations, OutboxOperations, NodeEffect
):
    """The postgres_adapter node; see the module docstring."""

    node_name = NODE_NAME
    _resources: PostgresResources | None = None
    _outbox_spill: PostgresOutboxSpill | None = None
    _observer: ProtocolWorkflowObserver | None = None
    _clock: Clock = SYSTEM_CLOCK
    _replaying: bool = False
    stored: int = 0
    duplicates: int = 0

    async def _initialize_node_resources(self) -> None:
        await super()._initialize_node_resources()
        binding = self.binding
        settings = await self.settings()
        clock = await self.resolve_optional(ProtocolClock)  # type: ignore[type-abstract]  # resolved by protocol type
        listener = await self.resolve_optional(ProtocolBreakerListener)  # type: ignore[type-abstract]  # resolved by protocol type
        addressing = await self.resolve_optional(ProtocolReplyAddressing)  # type: ignore[type-abstract]  # resolved by protocol type
        acl = await self.resolve_optional(ProtocolTopicAcl)  # type: ignore[type-abstract]  # resolved by protocol type
        contracts = binding.contract_set
        kafka = contracts.find_node("kafka_adapter")
        max_request = (
            kafka.kafka_producer(binding.environment).max_request_size if kafka else DEFAULT_MAX_REQUEST_SIZE
        )
        own = binding.contract.topics.publishes
        completed = addressing.reply_topic(failed=False) if addressing else _declared(own, "completed")
        failed = addressing.reply_topic(failed=True) if addressing else _declared(own, "failed")
        resources = build_postgres_resources(
            binding.contract,
            settings,
            clock=clock or SYSTEM_CLOCK,
            listeners=(listener,) if listener is not None else (),
            completed_topic=completed,
            failed_topic=failed,
            max_request_size=max_request,
            topic_acl=acl,
        )
        credentials = await self.resolve_optional(ProtocolCredentialProvider)  # type: ignore[type-abstract]  # resolved by protocol type
        if credentials is not None and credentials.serves("postgres"):
            resources.database.use_password_source(credentials.password_source("postgres"))
        object.__setattr__(self, "_resources", resources)
        object.__setattr__(self, "consumer_group", settings.kafka_consumer_group)
        spill = PostgresOutboxSpill(resources.database, schema=settings.postgres.schema_name)
        object.__setattr__(self, "_outbox_spill", spill)
        object.__setattr__(self, "_clock", clock or SYSTEM_CLOCK)
        object.__setattr__(self, "_observer", await self.resolve_optional(ProtocolWorkflowObserver))

    async def _cleanup_node_resources(self) -> None:
        await self.stop()

    @property
    def resources(self) -> PostgresResources:
        if self._resources is None:
            raise LifecycleError(f"{NODE_NAME}: call `await node.initialize()` first")
        return self._resources

    @property
    def outbox_spill(self) -> PostgresOutboxSpill:
        """The ``onex_outbox`` spill over this node's pool (register it as ``ProtocolOutboxSpill``)."""
        if self._outbox_spill is None:
            raise LifecycleError(f"{NODE_NAME}: call `await node.initialize()` first")
        return self._outbox_spill

    async def start(self) -> None:
        """Open the pool and check that the schema is at the version this code needs."""
        database = self.resources.database
        await database.start()
        settings = await self.settings()
        async with database.acquire_connection() as conn:
            await migrations.check_schema(conn, settings.postgres.schema_name)

    async def stop(self) -> None:
        """Store the state rows still waiting (one try), then close the pool (once the
        connections given back in the background are back)."""
        if self._resources is not None and self._resources.database.started:
            await self.store_pending_state_changes()
            await self._resources.settle_releases()
            await self._resources.database.stop()

    def allows_traffic(self) -> bool:
        """False while the PostgreSQL breaker refuses calls (the consumer pauses)."""
        return self.resources.breaker.allows_calls()

    # -- workflow operations -------------------------------------------------------------

    @operation(input=EventBatch)
    async def store_event_batch(self, batch: EventBatch, step: StepContext) -> EventBatch:
        """Write the batch's events (folded: one row per envelope id); rows PostgreSQL rejects
        become dead letters.

        One transaction, or a large batch in parts written at once, each its own transaction
        (``write_rows``). COPY straight into the table; after a batch that met stored rows (a
        replay), through the staging table until a batch has none (``event_store_writer``).
        """
        rows = batch.events
        if not rows:
            return batch
        result = await self.write_rows(rows)
        batch.stored += result.inserted
        batch.duplicates += result.duplicates
        now = self._clock.now()
        batch.dead.extend(DeadLetter.from_error(row.source, err, now) for row, err in result.rejected)
        return batch

    async def write_rows(self, rows: list[StoredEvent], *, split: bool = True) -> WriteResult:
        """``write_events`` through the breaker, switching to the staging path while replaying.

        A large batch is split over up to ``write_connections`` connections, the parts written
        at once, each in its own transaction (``event_store_writer.split_for_connections``),
        and only over connections idle in the pool at that moment: a busy pool means fewer
        parts, never a wait that could time out as an outage. ``split=False`` (rows whose
        envelope ids may repeat: two parts would wait on each other's key) writes one part.
        """
        resources = self.resources
        expect_duplicates = self._replaying

        async def write_part(part: list[StoredEvent]) -> WriteResult:
            async with (
                resources.database.acquire_connection() as conn,
                trace_database_operation("INSERT", collection="onex_event_store", batch_size=len(part)),
            ):
                return await write_events(conn, part, expect_duplicates=expect_duplicates)

        async def write() -> WriteResult:
            parts = [rows]
            if split and resources.write_connections > 1 and len(rows) >= 2 * ROWS_PER_WRITE_CONNECTION:
                idle = resources.database.get_connection_stats().checked_in
                parts = split_for_connections(rows, min(resources.write_connections, max(1, idle)))
            if len(parts) == 1:
                return await write_part(rows)
            outcomes = await asyncio.gather(*(write_part(p) for p in parts), return_exceptions=True)
            return merge_results(_results_or_raise(outcomes))

        result = await resources.breaker.call(write)
        replaying = result.duplicates > 0
        if replaying != self._replaying:
            object.__setattr__(self, "_replaying", replaying)
            if replaying:
                logger.info(
                    "event store: %d of %d rows were already stored (a redelivery or a replay); "
                    "writing through the staging table until a batch has none",
                    result.duplicates,
                    len(rows),
                )
            else:
                logger.info("event store: a batch with no stored rows; writing with COPY again")
        object.__setattr__(self, "stored", self.stored + result.inserted)
        object.__setattr__(self, "duplicates", self.duplicates + result.duplicates)
        notify(self._observer, "on_stored", result, rows)
        return result

    # -- typed requests (the node on its own) ----------------------------------------------

    async def execute(self, request: ModelPostgresAdapterInput) -> ModelPostgresAdapterOutput:
        """Carry out one typed request: a named operation, an event-store write or a health check."""
        inner = request.request
        if isinstance(inner, ModelOperationRequest):
            return ModelPostgresAdapterOutput(result=await self.run_one_operation(inner))
        if isinstance(inner, ModelEventStoreWriteRequest):
            rows = [
                StoredEvent(
                    uuid_text(r.envelope_id),
                    r.topic,
                    r.partition,
                    r.offset,
                    r.event_type,
                    None if r.correlation_id is None else uuid_text(r.correlation_id),
                    timestamp_text(r.envelope_timestamp or datetime.now(UTC)),
                    pydantic_core.to_json(r.payload).decode("utf-8"),
                    pydantic_core.to_json(r.metadata).decode("utf-8"),
                    SourceRecord(r.topic, r.partition, r.offset, None, None, ()),
                )
                for r in inner.records
            ]
            distinct = len({r.envelope_id for r in rows}) == len(rows)
            result = await self.write_rows(rows, split=distinct)
            return ModelPostgresAdapterOutput(
                result=ModelEventStoreWriteResult(
                    received=len(rows), stored=result.inserted, duplicates=result.duplicates
                )
            )
        health = await self.resources.database.health_check()
        return ModelPostgresAdapterOutput(result=ModelHealthCheckResult(health=health))

    async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        """Not supported: core's generic effect input carries no typed request; use ``execute()``."""
        raise UnsupportedRequestError(f"{NODE_NAME} takes typed requests through execute(), not process()")


def _results_or_raise(outcomes: list[WriteResult | BaseException]) -> list[WriteResult]:
    """The parts' results, or the batch's failure once every part has ended.

    An outage wins over any other failure (the breaker must count it); the failures not
    raised are logged by class and SQLSTATE (never a message: it may quote row values).
    """
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if not failures:
        return [o for o in outcomes if not isinstance(o, BaseException)]
    raised = next((f for f in failures if is_outage(f)), failures[0])
    for other in failures:
        if other is not raised:
            logger.warning(
                "event store: another part of the batch also failed: %s (SQLSTATE %s)",
                qualified_name(other),
                sqlstate_of(other) or "-",
            )
    raise raised


def _declared(topics: tuple[str, ...], marker: str) -> str:
    return next((t for t in topics if f"operation-{marker}" in t), topics[0] if topics else "")


__all__ = ["NODE_NAME", "NodePostgresAdapterEffect"]
