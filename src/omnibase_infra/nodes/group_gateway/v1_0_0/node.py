"""group_gateway (ORCHESTRATOR): the node group's edge on the bus.

- It maps each subscribed topic to the records workflow that takes it (``topology``:
  the composition contracts, with the ``ONEX_*`` topic variables on top) and hands each
  consumed batch to infrastructure_orchestrator, split by workflow: ``prepare`` runs the
  steps that may run ahead (decoding) while the previous batch's effects run, and
  ``apply_prepared`` the rest (kafka_adapter's consumer loop calls both).
- It addresses replies: ``reply_topic(failed=...)`` (``ProtocolReplyAddressing``, read by
  postgres_adapter's operation executor, which keeps the reply's correlation id and
  names the command as its parent envelope).
- It holds the topic ACL (``ProtocolTopicAcl``): a reply, relay, dead-letter, state or
  forward publish to a topic no step declares for that use is refused with
  ``TopicNotAllowedError``.

A record of a topic no workflow takes (possible only through a variable) is
dead-lettered (stage ``route``) by the first workflow of its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omnibase_core.models.orchestrator.model_orchestrator_input import ModelOrchestratorInput
from omnibase_core.models.orchestrator.model_orchestrator_output import ModelOrchestratorOutput
from omnibase_core.nodes.node_orchestrator import NodeOrchestrator

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import LifecycleError, PoisonRecordError, UnsupportedRequestError
from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl
from omnibase_infra.nodes.group_gateway.v1_0_0.topology import ServiceTopology, resolve_topology
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.protocols.protocol_clock import ProtocolClock
from omnibase_infra.workflow.dlq_stages import STAGE_ROUTE
from omnibase_infra.workflow.payloads import ConsumedBatch, Records
from omnibase_infra.workflow.protocols import TopicUse
from omnibase_infra.workflow.records import DeadLetter, Partition, ProtocolConsumerRecord

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

NODE_NAME = "group_gateway"


@dataclass(eq=False)
class PreparedBatch:
    """A consumed batch split by workflow, each part run up to its effects."""

    runs: list[Any]
    read_from: set[Partition]


class NodeGroupGateway(ContractBound, NodeOrchestrator):
    """The group_gateway node; see the module docstring."""

    node_name = NODE_NAME
    _topology: ServiceTopology | None = None
    _acl: TopicAcl | None = None
    _runner: Any = None
    _clock: Clock = SYSTEM_CLOCK

    async def _initialize_node_resources(self) -> None:
        await super()._initialize_node_resources()
        settings = await self.settings()
        contracts = self.binding.contract_set
        topology = resolve_topology(contracts, settings)
        acl = TopicAcl.for_service(contracts, topology, settings.outbox_topics)
        clock = await self.resolve_optional(ProtocolClock)  # type: ignore[type-abstract]  # resolved by protocol type
        object.__setattr__(self, "_topology", topology)
        object.__setattr__(self, "_acl", acl)
        object.__setattr__(self, "_clock", clock or SYSTEM_CLOCK)

    def attach(self, runner: Any) -> None:
        """The workflow runner (infrastructure_orchestrator) batches are handed to."""
        object.__setattr__(self, "_runner", runner)

    @property
    def topology(self) -> ServiceTopology:
        if self._topology is None:
            raise LifecycleError(f"{NODE_NAME}: call `await node.initialize()` first")
        return self._topology

    @property
    def acl(self) -> TopicAcl:
        if self._acl is None:
            raise LifecycleError(f"{NODE_NAME}: call `await node.initialize()` first")
        return self._acl

    @property
    def subscription(self) -> tuple[str, ...]:
        return self.topology.subscription

    # -- ProtocolReplyAddressing ---------------------------------------------------------

    def reply_topic(self, *, failed: bool) -> str:
        topology = self.topology
        return topology.operation_failed_topic if failed else topology.operation_completed_topic

    # -- ProtocolTopicAcl -----------------------------------------------------------------

    def require(self, topic: str, use: TopicUse) -> None:
        self.acl.require(topic, use)

    def require_relayable(self, topic: str, *, service_row: bool) -> None:
        self.acl.require_relayable(topic, service_row=service_row)

    def require_declared(self, topic: str) -> None:
        self.acl.require_declared(topic)

    # -- the consumer loop's handler (ProtocolPreparingHandler) ------------------------------

    async def handle(self, batch: Mapping[Partition, Sequence[ProtocolConsumerRecord]]) -> None:
        prepared = await self.prepare(batch)
        await self.apply_prepared(prepared, prepared.read_from)

    async def prepare(self, batch: Records) -> PreparedBatch:
        """Split ``batch`` by workflow and run each part's steps that may run ahead (no I/O)."""
        runner = self._require_runner()
        topology = self.topology
        parts: dict[str, dict[Partition, Sequence[ProtocolConsumerRecord]]] = {}
        unrouted: dict[Partition, Sequence[ProtocolConsumerRecord]] = {}
        for partition, records in batch.items():
            if not records:
                continue
            name = topology.workflow_of(partition.topic)
            if name is None:
                unrouted[partition] = records
            else:
                parts.setdefault(name, {})[partition] = records
        runs = [await runner.prepare(name, ConsumedBatch(records)) for name, records in parts.items()]
        if unrouted:
            self._dead_letter_unrouted(runs, unrouted, runner)
        return PreparedBatch(runs, {p for p, r in batch.items() if r})

    def _dead_letter_unrouted(
        self, runs: list[Any], unrouted: dict[Partition, Sequence[ProtocolConsumerRecord]], runner: Any
    ) -> None:
        now = self._clock.now()
        letters = [
            DeadLetter.from_error(
                record,
                PoisonRecordError(STAGE_ROUTE, "UnroutedTopic", f"no workflow consumes {partition.topic}"),
                now,
            )
            for partition, records in unrouted.items()
            for record in records
        ]
        if not runs:
            raise LifecycleError(
                f"{NODE_NAME}: records of topics no workflow takes: {sorted(map(str, unrouted))}"
            )
        payload = runs[0].payload
        payload.records = {**payload.records, **unrouted}
        payload.dead.extend(letters)

    async def apply_prepared(self, prepared: PreparedBatch, partitions: set[Partition]) -> None:
        """Run each part's remaining steps (effects, then commit), in order; raises on any outage."""
        runner = self._require_runner()
        for prepared_run in prepared.runs:
            run = prepared_run
            if not set(run.payload.records) <= partitions:
                # Partitions were revoked meanwhile: run the part again on what is still ours.
                run = await runner.prepare(run.workflow.name, run.source.only(partitions))
                if not run.source.records:
                    continue
            await runner.finish(run)

    def _require_runner(self) -> Any:
        if self._runner is None:
            raise LifecycleError(f"{NODE_NAME}: no workflow runner attached (attach the orchestrator)")
        return self._runner

    async def process(self, input_data: ModelOrchestratorInput) -> ModelOrchestratorOutput:
        """Not supported: batches arrive through prepare()/apply_prepared()."""
        raise UnsupportedRequestError(
            f"{NODE_NAME} takes consumed batches through prepare()/apply_prepared()"
        )


__all__ = ["NODE_NAME", "NodeGroupGateway", "PreparedBatch"]
