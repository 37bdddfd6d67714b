"""kafka_adapter (EFFECT): every Kafka side effect, with its own consumer, producer pool and breaker.

Built from its contract and the settings alone: ``initialize()`` binds the contract and
builds the producer pool and the circuit breaker (no I/O); ``start()`` starts the
producers; ``consumer_loop(handler, gate)`` builds the consumer of the subscribed topics
and the loop that hands each polled batch to ``handler`` (group_gateway in the service);
``stop()`` flushes and closes. Collaborators from the container when present: the clock,
breaker listeners, the topic ACL (group_gateway) and a workflow observer.

Workflow operations (``@operation``, one call per batch): ``consume``,
``publish_events``, ``publish_dead_letters``, ``commit_offsets`` here; ``publish_replies``
in ``reply_operations``; ``health_check`` and ``publish_state`` (infrastructure_state) in
``state_operations``, with the durable publisher of state events (Kafka, else the outbox
spill the container holds as ``ProtocolOutboxSpill``); the outbox relay's
``publish_outbox`` in ``outbox_operations``. The typed request API ``execute()``
(publish, poll, dead letter, commit, health check) serves applications that use the
node on its own: ``ModelPollRequest`` creates one consumer of the settings' group on
first use (no consumer loop) and ``ModelCommitRequest`` commits on it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from omnibase_core.models.effect.model_effect_input import ModelEffectInput
from omnibase_core.models.effect.model_effect_output import ModelEffectOutput
from omnibase_core.nodes.node_effect import NodeEffect

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import LifecycleError, UnsupportedRequestError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.models.model_consumed_record import ModelTopicPartitionOffset
from omnibase_infra.nodes.kafka_adapter.v1_0_0.acks import settle
from omnibase_infra.nodes.kafka_adapter.v1_0_0.consumer_loop import (
    ConsumerLoop,
    ProtocolBatchHandler,
    ProtocolTrafficGate,
)
from omnibase_infra.nodes.kafka_adapter.v1_0_0.dead_letter import DeadLetterWriter
from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import ProtocolKafkaConsumer, create_consumer
from omnibase_infra.nodes.kafka_adapter.v1_0_0.models import (
    ModelCommitRequest,
    ModelCommitResult,
    ModelDeadLetterRequest,
    ModelDeadLetterResult,
    ModelKafkaAdapterInput,
    ModelKafkaAdapterOutput,
    ModelKafkaHealthCheckResult,
    ModelPolledRecord,
    ModelPollRequest,
    ModelPollResult,
    ModelPublishRequest,
    ModelPublishResult,
    ModelRecordAck,
)
from omnibase_infra.nodes.kafka_adapter.v1_0_0.outbox_operations import OutboxPublishOperations
from omnibase_infra.nodes.kafka_adapter.v1_0_0.reply_operations import ReplyOperations
from omnibase_infra.nodes.kafka_adapter.v1_0_0.state_operations import StateOperations
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.protocols.protocol_clock import ProtocolClock
from omnibase_infra.settings import ModelInfraSettings
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import ConsumedBatch, EventBatch
from omnibase_infra.workflow.protocols import (
    ProtocolBreakerListener,
    ProtocolTopicAcl,
    ProtocolWorkflowObserver,
    notify,
)
from omnibase_infra.workflow.records import DeadLetter, Partition, SourceRecord

NODE_NAME = "kafka_adapter"
MAX_TRACKED_TRIES = 10_000

logger = logging.getLogger(__name__)


def _coordinates(letter: DeadLetter) -> tuple[str, int, int]:
    return letter.record.topic, letter.record.partition, letter.record.offset


class NodeKafkaAdapterEffect(
    ContractBound, ReplyOperations, StateOperations, OutboxPublishOperations, NodeEffect
):
    """The kafka_adapter node; see the module docstring."""

    node_name = NODE_NAME
    _producers: KafkaProducerPool | None = None
    _breaker: EventBusCircuitBreaker | None = None
    _acl: ProtocolTopicAcl | None = None
    _observer: ProtocolWorkflowObserver | None = None
    _clock: Clock = SYSTEM_CLOCK
    _consumer: ProtocolKafkaConsumer | None = None
    _loop: ConsumerLoop | None = None
    _polled_topics: tuple[str, ...] = ()
    _dlq: DeadLetterWriter | None = None
    dead_letters: int = 0
    forwarded: int = 0

    async def _initialize_node_resources(self) -> None:
        await super()._initialize_node_resources()
        binding = self.binding
        settings = await self.settings()
        env = binding.environment
        clock = await self.resolve_optional(ProtocolClock) or SYSTEM_CLOCK  # type: ignore[type-abstract]  # resolved by protocol type
        listener = await self.resolve_optional(ProtocolBreakerListener)  # type: ignore[type-abstract]  # resolved by protocol type
        acl = await self.resolve_optional(ProtocolTopicAcl)  # type: ignore[type-abstract]  # resolved by protocol type
        config = binding.contract.kafka_producer(env).to_producer_config(
            settings.kafka_bootstrap_servers, settings.kafka_security
        )
        producers = KafkaProducerPool(config, clock=clock)
        breaker = EventBusCircuitBreaker.from_contract(
            binding.contract.circuit_breakers,
            name="kafka",
            environment=env,
            clock=clock,
            listeners=(listener,) if listener is not None else (),
        )
        for name, value in (
            ("_producers", producers),
            ("_breaker", breaker),
            ("_acl", acl),
            ("_clock", clock),
            ("_settings_now", settings),
            ("_dlq", DeadLetterWriter(producers, acl)),
            ("_tries", {}),
            ("_observer", await self.resolve_optional(ProtocolWorkflowObserver)),  # type: ignore[type-abstract]  # resolved by protocol type
        ):
            object.__setattr__(self, name, value)
        await self._build_state_publisher(require_spill=False)

    async def _cleanup_node_resources(self) -> None:
        await self.stop()

    @property
    def producers(self) -> KafkaProducerPool:
        if self._producers is None:
            raise LifecycleError(f"{NODE_NAME}: call `await node.initialize()` first")
        return self._producers

    @property
    def breaker(self) -> EventBusCircuitBreaker:
        if self._breaker is None:
            raise LifecycleError(f"{NODE_NAME}: call `await node.initialize()` first")
        return self._breaker

    def use_settings(self, settings: ModelInfraSettings) -> None:
        """Settings for the next consumer (rotated Kafka credentials)."""
        object.__setattr__(self, "_settings_now", settings)

    def allows_traffic(self) -> bool:
        """False while the Kafka breaker refuses calls (the consumer pauses)."""
        return self.breaker.allows_calls()

    async def start(self) -> None:
        """Start the producer pool (a broker that is down raises an outage: retry) and the state publisher."""
        await self.producers.start()
        await self._durable_publisher()

    async def stop(self) -> None:
        """Stop the consumer (if any) and flush and close the producers."""
        if self._consumer is not None:
            await self._consumer.stop()
            object.__setattr__(self, "_consumer", None)
        await self._stop_state_publisher()
        if self._producers is not None:
            await self._producers.stop()

    def consumer_loop(
        self,
        topics: Sequence[str],
        handler: ProtocolBatchHandler,
        gate: ProtocolTrafficGate,
        *,
        max_records: int,
        poll_timeout_ms: int,
    ) -> tuple[ConsumerLoop, ProtocolKafkaConsumer]:
        """A consumer of ``topics`` (the settings' group) and the loop handing its batches to ``handler``.

        The loop does not commit: the workflows' ``commit_offsets`` step does, on this consumer.
        """
        binding = self.binding
        settings = self._settings_now
        holder: list[ConsumerLoop] = []

        async def revoked(partitions: set[Partition]) -> None:
            await holder[0].on_partitions_revoked(partitions)

        async def assigned(partitions: set[Partition]) -> None:
            await holder[0].on_partitions_assigned(partitions)

        consumer = create_consumer(
            tuple(topics),
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.kafka_consumer_group,
            security=settings.kafka_security,
            on_revoked=revoked,
            on_assigned=assigned,
            settings=binding.contract.kafka_consumer(binding.environment),
        )
        loop = ConsumerLoop(
            consumer,
            handler,
            gate,
            max_records=max_records,
            poll_timeout_ms=poll_timeout_ms,
            clock=self._clock,
            handler_commits=True,
        )
        holder.append(loop)
        object.__setattr__(self, "_consumer", consumer)
        object.__setattr__(self, "_loop", loop)
        return loop, consumer

    # -- workflow operations -------------------------------------------------------------

    @operation(input=ConsumedBatch, output="same")
    async def consume(self, batch: ConsumedBatch, step: StepContext) -> ConsumedBatch:
        """The batch this adapter's consumer polled (its loop hands it to group_gateway)."""
        return batch

    @operation(input=EventBatch)
    async def publish_events(self, batch: EventBatch, step: StepContext) -> EventBatch:
        """Send each decoded event's original record to every topic the step lists; wait for the acks."""
        if not batch.events or not step.publishes:
            return batch
        for topic in step.publishes:
            if self._acl is not None:
                self._acl.require(topic, "forward")
        sends = [
            asyncio.ensure_future(self._send(topic, event.source))
            for event in batch.events
            for topic in step.publishes
        ]
        await settle(sends)
        batch.forwarded += len(sends)
        object.__setattr__(self, "forwarded", self.forwarded + len(sends))
        return batch

    async def _send(self, topic: str, source: object) -> tuple[int, int]:
        record = source  # a consumed record: key, value, headers
        send = functools.partial(
            self.producers.send,
            topic,
            record.value or b"",  # type: ignore[attr-defined]  # every event's source is a consumed record
            record.key,  # type: ignore[attr-defined]  # every event's source is a consumed record
            list(record.headers),  # type: ignore[attr-defined]  # every event's source is a consumed record
        )
        return await self.breaker.call(send)

    @operation(input=ConsumedBatch)
    async def publish_dead_letters(self, batch: ConsumedBatch, step: StepContext) -> ConsumedBatch:
        """Publish the batch's dead letters to ``T.dlq`` (together) and wait for every ack.

        ``attempts`` adds this record's earlier tries whose batch was rewound before its dead
        letter was acknowledged (the DLQ write met an outage).
        """
        if not batch.dead:
            return batch
        letters = [self._count_try(letter) for letter in batch.dead]
        await settle([asyncio.ensure_future(self._write_dead_letter(letter)) for letter in letters])
        for letter in letters:
            self._tries.pop(_coordinates(letter), None)
            notify(self._observer, "on_dead_letter", letter)
        object.__setattr__(self, "dead_letters", self.dead_letters + len(letters))
        batch.dead = letters
        return batch

    @operation(input=ConsumedBatch)
    async def commit_offsets(self, batch: ConsumedBatch, step: StepContext) -> ConsumedBatch:
        """Commit the batch's offsets on this adapter's consumer (the workflow's last step).

        A failed commit is logged, not raised: the work is applied and idempotent, and the
        next owner of the partition re-reads and adds nothing.
        """
        offsets = batch.offsets_to_commit()
        if not offsets:
            return batch
        consumer = self._consumer
        if consumer is None:
            raise LifecycleError(f"{NODE_NAME}: no consumer is running to commit for")
        loop = self._loop
        if loop is not None and loop.consumer is consumer:
            # Sent in order once the previous commit was answered; the next batch is
            # applied while the broker answers this one (consumer_loop, overlapped commits).
            await loop.commit_overlapped(offsets)
            batch.committed.update(offsets)
            return batch
        try:
            await consumer.commit(offsets)
        except Exception as exc:
            logger.warning("offset commit failed: %s", type(exc).__name__)
            return batch
        batch.committed.update(offsets)
        return batch

    _tries: dict[tuple[str, int, int], int]
    _settings_now: ModelInfraSettings

    def _count_try(self, letter: DeadLetter) -> DeadLetter:
        key = _coordinates(letter)
        earlier = self._tries.get(key, 0)
        self._tries[key] = earlier + 1
        if len(self._tries) > MAX_TRACKED_TRIES:
            self._tries.pop(next(iter(self._tries)))
        return replace(letter, attempts=letter.attempts + earlier) if earlier else letter

    async def _write_dead_letter(self, letter: DeadLetter) -> tuple[int, int]:
        dlq = self._dlq
        assert dlq is not None
        return await self.breaker.call(functools.partial(dlq.write, letter))

    # -- typed requests (the node on its own) ----------------------------------------------

    async def execute(self, request: ModelKafkaAdapterInput) -> ModelKafkaAdapterOutput:
        """Carry out one typed request: publish, dead letter, commit or health check."""
        inner = request.request
        if isinstance(inner, ModelPublishRequest):
            acks: list[ModelRecordAck] = []
            for record in inner.records:
                if self._acl is not None:
                    self._acl.require_declared(record.topic)
            for record in inner.records:
                send = functools.partial(
                    self.producers.send, record.topic, record.value, record.key, record.headers
                )
                partition, offset = await self.breaker.call(send)
                acks.append(ModelRecordAck(topic=record.topic, partition=partition, offset=offset))
            return ModelKafkaAdapterOutput(result=ModelPublishResult(acknowledged=tuple(acks)))
        if isinstance(inner, ModelPollRequest):
            return ModelKafkaAdapterOutput(result=await self._poll(inner))
        if isinstance(inner, ModelDeadLetterRequest):
            letter = DeadLetter(
                record=SourceRecord(
                    inner.source_topic,
                    inner.partition,
                    inner.offset,
                    inner.key,
                    inner.value,
                    tuple(inner.original_headers),
                ),
                stage=inner.stage,
                error_class=inner.error_class,
                message=inner.message,
                attempts=inner.attempts,
                failed_at=datetime.now(UTC),
            )
            partition, offset = await self._write_dead_letter(letter)
            ack = ModelRecordAck(topic=inner.dead_letter_topic, partition=partition, offset=offset)
            return ModelKafkaAdapterOutput(result=ModelDeadLetterResult(acknowledged=ack))
        if isinstance(inner, ModelCommitRequest):
            return ModelKafkaAdapterOutput(result=await self._commit(inner))
        health = await self.producers.health_check()
        return ModelKafkaAdapterOutput(result=ModelKafkaHealthCheckResult(health=health))

    async def _poll(self, request: ModelPollRequest) -> ModelPollResult:
        """Records of ``request.topics`` from this node's own consumer (created on first use)."""
        if self._consumer is None or self._polled_topics != request.topics:
            if self._consumer is not None:
                await self._consumer.stop()
                object.__setattr__(self, "_consumer", None)
            binding = self.binding
            settings = self._settings_now

            async def ignore(_: set[Partition]) -> None:
                return None

            consumer = create_consumer(
                request.topics,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                group_id=settings.kafka_consumer_group,
                security=settings.kafka_security,
                on_revoked=ignore,
                on_assigned=ignore,
                settings=binding.contract.kafka_consumer(binding.environment),
            )
            await consumer.start()
            object.__setattr__(self, "_consumer", consumer)
            object.__setattr__(self, "_polled_topics", request.topics)
        else:
            consumer = self._consumer
        contract_settings = self.binding.contract.kafka_consumer(self.binding.environment)
        max_records = request.max_records or contract_settings.max_poll_records
        deadline = self._clock.monotonic() + request.timeout_ms / 1000
        while True:
            remaining_ms = max(0, int((deadline - self._clock.monotonic()) * 1000))
            polled = await consumer.getmany(timeout_ms=min(remaining_ms, 1000), max_records=max_records)
            records = [
                ModelPolledRecord(
                    topic=partition.topic,
                    partition=partition.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    headers=tuple(record.headers),
                )
                for partition, batch in sorted(polled.items())
                for record in batch
            ]
            if records or remaining_ms == 0:
                return ModelPollResult(records=tuple(records))

    async def _commit(self, request: ModelCommitRequest) -> ModelCommitResult:
        consumer = self._consumer
        if consumer is None:
            raise LifecycleError(f"{NODE_NAME}: no consumer is running to commit for")
        offsets: Mapping[Partition, int] = {
            Partition(o.topic, o.partition): o.offset for o in request.offsets
        }
        await consumer.commit(offsets)
        return ModelCommitResult(
            committed=tuple(
                ModelTopicPartitionOffset(topic=o.topic, partition=o.partition, offset=o.offset)
                for o in request.offsets
            )
        )

    async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        """Not supported: core's generic effect input carries no typed request; use ``execute()``."""
        raise UnsupportedRequestError(f"{NODE_NAME} takes typed requests through execute(), not process()")


__all__ = ["NODE_NAME", "NodeKafkaAdapterEffect"]
