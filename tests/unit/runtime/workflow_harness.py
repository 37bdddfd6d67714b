"""The records workflows on the real nodes, hosted as the service hosts them, with fakes at the edges.

``host_workflows`` hosts the node group with ``runtime.node_host.host_nodes`` on the
shipped contracts (the composition's ``event_store`` and ``operations`` workflows, compiled
by infrastructure_orchestrator, routed by group_gateway), then ``swap_in_fakes`` replaces
what would reach a server: postgres_adapter's pool, breaker and operation executor,
kafka_adapter's producers, dead-letter writer, breaker and consumer. Batches go in where
kafka_adapter's consumer loop hands them over: ``gateway.handle(batch)``, or
``gateway.prepare(batch)`` then ``gateway.apply_prepared(prepared, partitions)``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from omnibase_infra.clock import FakeClock
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.nodes.kafka_adapter.v1_0_0.dead_letter import DeadLetterWriter
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import OperationExecutor
from omnibase_infra.runtime.node_host import HostedNodes, host_nodes
from omnibase_infra.settings import load_settings
from omnibase_infra.workflow.records import (
    DeadLetter,
    OperationOutcome,
    Partition,
    SourceRecord,
    StoredEvent,
    WriteResult,
)

from .fakes import FakeCatalog, FakeConsumer, FakeGuard, FakePublisher, UntouchableDatabase, encode_reply

if TYPE_CHECKING:
    from omnibase_infra.contract_validation.contract_set import ContractSet
    from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition
    from omnibase_infra.nodes.group_gateway.v1_0_0.node import NodeGroupGateway
    from omnibase_infra.nodes.kafka_adapter.v1_0_0.node import NodeKafkaAdapterEffect
    from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import Envelope
    from omnibase_infra.nodes.message_aggregator.v1_0_0.node import NodeMessageAggregatorCompute
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.node import NodePostgresAdapterEffect
    from omnibase_infra.workflow.protocols import ProtocolConnectionSource

STORE = "onex.evt.orders.created.v1"
"""The event-store topic of these tests (``ONEX_EVENT_STORE_TOPICS``)."""
COMMANDS = "onex.cmd.postgres.operation.v1"
COMPLETED = "onex.evt.postgres.operation-completed.v1"
FAILED = "onex.evt.postgres.operation-failed.v1"

ENVIRON = {
    "ENVIRONMENT": "development",
    "POSTGRES_HOST": "db",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "ONEX_EVENT_STORE_TOPICS": STORE,
}


class RecordingObserver:
    """``ProtocolWorkflowObserver`` keeping what the nodes told it."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.operations: list[OperationOutcome] = []
        self.stored: list[WriteResult] = []
        self.relayed: list[int] = []

    def on_stored(self, result: WriteResult, rows: Sequence[StoredEvent]) -> None:
        self.stored.append(result)

    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None:
        self.operations.append(outcome)

    def on_dead_letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    def on_relayed(self, published: int) -> None:
        self.relayed.append(published)


@dataclass
class BatchStats:
    """What the records workflows did, from the nodes' counters and the observer's dead letters."""

    stored: int = 0
    duplicates: int = 0
    operations: int = 0
    dead_letters: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)


@dataclass
class WorkflowHarness:
    """The hosted nodes and the fakes swapped in (see ``swap_in_fakes``)."""

    nodes: HostedNodes
    database: ProtocolConnectionSource
    db_guard: FakeGuard
    publisher: FakePublisher
    publish_guard: FakeGuard
    consumer: FakeConsumer
    observer: RecordingObserver

    @property
    def gateway(self) -> NodeGroupGateway:
        gateway: NodeGroupGateway = self.nodes.group_gateway
        return gateway

    @property
    def postgres(self) -> NodePostgresAdapterEffect:
        postgres: NodePostgresAdapterEffect = self.nodes.postgres_adapter
        return postgres

    @property
    def kafka(self) -> NodeKafkaAdapterEffect:
        kafka: NodeKafkaAdapterEffect = self.nodes.kafka_adapter
        return kafka

    @property
    def aggregator(self) -> NodeMessageAggregatorCompute:
        aggregator: NodeMessageAggregatorCompute = self.nodes.message_aggregator
        return aggregator

    @property
    def stats(self) -> BatchStats:
        by_stage: dict[str, int] = {}
        for letter in self.observer.letters:
            by_stage[letter.stage] = by_stage.get(letter.stage, 0) + 1
        return BatchStats(
            stored=self.postgres.stored,
            duplicates=self.postgres.duplicates,
            operations=self.postgres.operations_run,
            dead_letters=self.kafka.dead_letters,
            by_stage=by_stage,
        )


@functools.cache
def shipped_contracts() -> ContractSet:
    return load_contract_set()


def _ignore_transition(transition: ModelCircuitBreakerTransition) -> None:
    return None


def default_executor() -> OperationExecutor:
    """An executor over an empty catalog: every command names an unknown operation."""
    return OperationExecutor(
        FakeCatalog(), completed_topic=COMPLETED, failed_topic=FAILED, encode_reply=encode_reply
    )


def swap_in_fakes(
    nodes: HostedNodes,
    *,
    database: ProtocolConnectionSource,
    db_guard: FakeGuard,
    executor: OperationExecutor,
    publisher: FakePublisher,
    publish_guard: FakeGuard,
    consumer: FakeConsumer,
) -> None:
    """The one place the hosted effect nodes get their fakes (node attributes, set after ``initialize``).

    - postgres_adapter: its resources' pool (``database``), breaker (``db_guard``) and
      operation executor (``executor``: a small catalog, the tests' reply encoding);
    - kafka_adapter: its producers and dead-letter writer send through ``publisher`` (the
      writer keeps group_gateway's topic ACL), its breaker is ``publish_guard``, and
      ``consumer`` is the consumer ``commit_offsets`` commits on.

    Everything else is the hosted nodes' own: the topology and ACL, the compiled workflows,
    the decoding, the fold, the writer's replay switch, reply and dead-letter handling.
    """
    postgres: NodePostgresAdapterEffect = nodes.postgres_adapter
    kafka: NodeKafkaAdapterEffect = nodes.kafka_adapter
    swaps: list[tuple[object, str, object]] = [
        (postgres.resources, "database", database),
        (postgres.resources, "breaker", db_guard),
        (postgres.resources, "executor", executor),
        (kafka, "_producers", publisher),
        (kafka, "_dlq", DeadLetterWriter(publisher, kafka._acl)),
        (kafka, "_breaker", publish_guard),
        (kafka, "_consumer", consumer),
    ]
    for target, name, value in swaps:
        object.__setattr__(target, name, value)


async def host_workflows(
    *,
    database: ProtocolConnectionSource | None = None,
    executor: OperationExecutor | None = None,
    observer: RecordingObserver | None = None,
    publisher: FakePublisher | None = None,
    partitions: Iterable[Partition] = (),
) -> WorkflowHarness:
    """The node group hosted on the shipped contracts with fakes at the edges (module docstring).

    ``database`` defaults to one that fails any use; ``executor`` to ``default_executor()``;
    ``partitions`` are assigned to the fake consumer (for a consumer loop driving it).
    """
    observer = observer or RecordingObserver()
    nodes = await host_nodes(
        shipped_contracts(),
        load_settings(ENVIRON),
        clock=FakeClock(),
        listener=_ignore_transition,
        observer=observer,
    )
    harness = WorkflowHarness(
        nodes=nodes,
        database=database or UntouchableDatabase(),
        db_guard=FakeGuard("postgres"),
        publisher=publisher or FakePublisher(),
        publish_guard=FakeGuard("kafka"),
        consumer=FakeConsumer(partitions),
        observer=observer,
    )
    swap_in_fakes(
        nodes,
        database=harness.database,
        db_guard=harness.db_guard,
        executor=executor or default_executor(),
        publisher=harness.publisher,
        publish_guard=harness.publish_guard,
        consumer=harness.consumer,
    )
    return harness


__all__ = [
    "COMMANDS",
    "COMPLETED",
    "FAILED",
    "STORE",
    "BatchStats",
    "RecordingObserver",
    "WorkflowHarness",
    "default_executor",
    "host_workflows",
    "shipped_contracts",
    "swap_in_fakes",
]
