"""The payloads composition steps pass on, one per run of a workflow.

A records workflow starts from a ``ConsumedBatch`` (what one poll returned, by
partition). Decoding turns it into an ``EventBatch`` (envelopes as event-store rows)
or a ``CommandBatch`` (operation commands); every later step takes and returns the
same object, filling in what it did (rows stored, replies sent, dead letters). Poison
found by any step is appended to ``dead`` with its coordinates; the dead-letter step
publishes it to ``T.dlq``; the commit step commits the partitions last, and records
them in ``committed``. Payloads are plain mutable objects, not pydantic models: one
is built per batch on the hot path, and its records are the consumer's own.

``Tick`` starts the other triggers' workflows (``repeat``, ``interval``). The
``infrastructure_state`` workflow turns it into a ``HealthRound``: the health checks
fill in their samples, the summariser its summary, the reducer the candidate state and
the changes, the publishing step which changes were recorded, the storing step which
rows were stored.
``Tick`` starts the other triggers' workflows (``repeat``, ``interval``). The outbox
relay (``repeat``) turns it into an ``OutboxRound``: the rows claimed in a transaction
that stays open until the marking commits it; ``OutboxRound.aclose()`` rolls it back
when a step raised before that (the orchestrator's repeat loop calls it in a ``finally``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from omnibase_infra.models.model_health import (
    HealthStatus,
    InfrastructureHealthMetrics,
    ModelCircuitBreakerMetrics,
    ModelKafkaHealth,
    ModelPostgresHealth,
)
from omnibase_infra.workflow.protocols import ProtocolRecordOrigin
from omnibase_infra.workflow.records import (
    DeadLetter,
    OperationOutcome,
    Partition,
    ProtocolConsumerRecord,
    SourceRecord,
    StoredEvent,
)

if TYPE_CHECKING:
    import asyncpg
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
    from opentelemetry.trace import SpanContext
    from pydantic import JsonValue

    from omnibase_infra.errors import PoisonRecordError
    from omnibase_infra.models.model_connection_stats import ConnectionStats
    from omnibase_infra.models.model_infrastructure_state import (
        ModelHealthSummary,
        ModelInfrastructureState,
        ModelStateChangedIntent,
    )
    from omnibase_infra.workflow.protocols import DbConnection

    Envelope = ModelEventEnvelope[JsonValue]

Records = Mapping[Partition, Sequence[ProtocolConsumerRecord]]


@dataclass(eq=False)
class Tick:
    """The start of a ``repeat`` or ``interval`` run: when it began."""

    at: datetime


@dataclass(eq=False)
class ConsumedBatch:
    """Records of one poll, by partition (offset order within each), and what became of them."""

    records: Records
    dead: list[DeadLetter] = field(default_factory=list)
    committed: set[Partition] = field(default_factory=set)

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.records.values())

    def offsets_to_commit(self) -> dict[Partition, int]:
        """Per partition, the offset after its last record."""
        return {p: records[-1].offset + 1 for p, records in self.records.items() if records}

    def first_records(self) -> Sequence[ProtocolConsumerRecord]:
        """One record per partition (its first): where trace contexts are looked for first."""
        return [records[0] for records in self.records.values() if records]

    def only(self, partitions: set[Partition]) -> ConsumedBatch:
        """The batch restricted to ``partitions`` (a revocation happened meanwhile)."""
        return ConsumedBatch({p: r for p, r in self.records.items() if p in partitions})


@dataclass(eq=False)
class EventBatch(ConsumedBatch):
    """Decoded envelopes as event-store rows (consumption order), and what storing did."""

    events: list[StoredEvent] = field(default_factory=list)
    folded: int = 0
    stored: int = 0
    duplicates: int = 0
    forwarded: int = 0

    def only(self, partitions: set[Partition]) -> EventBatch:
        def kept(source: ProtocolRecordOrigin) -> bool:
            return Partition(source.topic, source.partition) in partitions

        return EventBatch(
            {p: r for p, r in self.records.items() if p in partitions},
            [d for d in self.dead if kept(d.record)],
            events=[e for e in self.events if kept(e.source)],
            folded=self.folded,
        )


@dataclass(eq=False)
class Command:
    """A decoded operation command, where it was read, and its answer once there is one.

    ``outcome``: the reply to send (run_operation); ``refused``: why the broker refused it
    for good (publish_replies), then ``substituted`` once answer_refused_replies replaced it
    with a small failed reply; ``replied`` once the broker acknowledged the reply.
    """

    source: SourceRecord
    envelope: Envelope
    outcome: OperationOutcome | None = None
    refused: PoisonRecordError | None = None
    substituted: bool = False
    replied: bool = False
    span_context: SpanContext | None = None

    @property
    def reply_value(self) -> bytes | None:
        return self.outcome.reply_value if self.outcome is not None else None


@dataclass(eq=False)
class CommandBatch(ConsumedBatch):
    """Decoded commands in consumption order, with their answers."""

    commands: list[Command] = field(default_factory=list)

    def only(self, partitions: set[Partition]) -> CommandBatch:
        def kept(source: SourceRecord) -> bool:
            return Partition(source.topic, source.partition) in partitions

        return CommandBatch(
            {p: r for p, r in self.records.items() if p in partitions},
            [d for d in self.dead if kept(d.record)],
            commands=[c for c in self.commands if kept(c.source)],
        )


@dataclass(frozen=True)
class StateChange:
    """A change of a round, and the overall status once it and the changes before it apply."""

    intent: ModelStateChangedIntent
    overall_status: HealthStatus


@dataclass(eq=False)
class HealthRound(Tick):
    """One run of ``infrastructure_state``: samples, summary, candidate state, what was recorded.

    ``environment``, the PostgreSQL sample (``postgres``, ``postgres_stats``) and the Kafka
    sample (``kafka``) come from the adapters' ``health_check``s, which add their breakers'
    metrics; ``metrics()`` aggregates them. ``summary`` (message_aggregator), then
    ``base`` (the state folded from), ``candidate`` and ``changes`` (infrastructure_reducer);
    ``recorded``: how many leading changes were published or spilled to the outbox (the
    rest wait for the next round); ``applied``: the reducer took them into its state;
    ``stored``: rows written to ``onex_infrastructure_state`` by this round (its own and
    earlier rounds'), ``unstored``: recorded changes whose rows still wait for PostgreSQL.
    """

    environment: str = ""
    postgres: ModelPostgresHealth | None = None
    postgres_stats: ConnectionStats | None = None
    kafka: ModelKafkaHealth | None = None
    breakers: list[ModelCircuitBreakerMetrics] = field(default_factory=list)
    summary: ModelHealthSummary | None = None
    base: ModelInfrastructureState | None = None
    candidate: ModelInfrastructureState | None = None
    changes: list[StateChange] = field(default_factory=list)
    recorded: int = 0
    applied: bool = False
    stored: int = 0
    unstored: int = 0

    @classmethod
    def of(cls, tick: Tick) -> HealthRound:
        """``tick`` itself when it is a round already, else a new round started at its time."""
        return tick if isinstance(tick, HealthRound) else cls(at=tick.at)

    @property
    def recorded_changes(self) -> list[ModelStateChangedIntent]:
        return [change.intent for change in self.changes[: self.recorded]]

    @property
    def unrecorded_changes(self) -> list[ModelStateChangedIntent]:
        return [change.intent for change in self.changes[self.recorded :]]

    def metrics(self) -> InfrastructureHealthMetrics:
        """The round's samples as the health monitor's aggregate (``aggregate_health``)."""
        from omnibase_infra.infrastructure.infrastructure_health_monitor import aggregate_health

        return aggregate_health(
            postgres=self.postgres,
            postgres_stats=self.postgres_stats,
            kafka=self.kafka,
            breakers=self.breakers,
            environment=self.environment,
            timestamp=self.at,
        )


@dataclass(frozen=True)
class RowFailure:
    """Why an outbox row was not published; ``poison`` rows are parked at once."""

    reason: str
    poison: bool


@dataclass
class ChainResult:
    """One key's rows of an outbox round: the ids acknowledged, the row that failed, an outage."""

    published: list[int]
    failed: list[tuple[asyncpg.Record, RowFailure]]
    outage: bool


class ProtocolRoundTransaction(Protocol):
    """The claim's open transaction and the connection it holds (postgres_adapter's)."""

    async def commit(self) -> None:
        """Commit the transaction and give the connection back."""
        ...

    async def rollback(self) -> None:
        """Roll the transaction back and give the connection back."""
        ...


@dataclass(eq=False)
class OutboxRound:
    """One round of the outbox relay: claimed rows, what sending them did, what was marked.

    ``claim_outbox_batch`` (postgres_adapter) fills ``rows``, ``connection`` and
    ``transaction`` (open: the rows stay locked, ``FOR UPDATE SKIP LOCKED`` plus the
    keys' advisory locks) and ``send_budget_seconds``; ``publish_outbox``
    (kafka_adapter) fills ``chains`` and ``dead_letter_enabled``;
    ``mark_outbox_published`` (postgres_adapter) marks on ``connection``, commits, and
    fills the counts. ``more`` tells the repeat loop to run again at once.

    The round holds a pooled connection until it is committed or closed: whoever runs
    the steps must ``await round.aclose()`` in a ``finally`` (the orchestrator's repeat
    loop does); it rolls back a transaction still open (a step raised) and is a no-op
    after the commit.
    """

    rows: list[asyncpg.Record] = field(default_factory=list)
    connection: DbConnection | None = None
    transaction: ProtocolRoundTransaction | None = None
    send_budget_seconds: float = 15.0
    chains: list[ChainResult] = field(default_factory=list)
    dead_letter_enabled: bool = True
    published: int = 0
    failed: int = 0
    parked: int = 0
    interrupted: bool = False
    marked: bool = False

    @property
    def more(self) -> bool:
        """True when the round did work (published or parked rows) without an outage."""
        return self.marked and self.published + self.parked > 0 and not self.interrupted

    async def commit(self) -> None:
        """Commit the claim's transaction and release the connection (the marking's end)."""
        transaction, self.transaction, self.connection = self.transaction, None, None
        if transaction is not None:
            await transaction.commit()

    async def aclose(self) -> None:
        """Release the connection: roll back the claim if it is still open; idempotent."""
        transaction, self.transaction, self.connection = self.transaction, None, None
        if transaction is not None:
            await transaction.rollback()

    close = aclose


__all__ = [
    "ChainResult",
    "Command",
    "CommandBatch",
    "ConsumedBatch",
    "EventBatch",
    "HealthRound",
    "OutboxRound",
    "ProtocolRoundTransaction",
    "Records",
    "RowFailure",
    "StateChange",
    "Tick",
]
