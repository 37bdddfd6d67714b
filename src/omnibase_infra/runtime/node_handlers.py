"""The behaviour behind the two EFFECT nodes, registered in the container by the runtime.

``PostgresAdapterHandler`` and ``KafkaAdapterHandler`` carry out the typed
requests of postgres_adapter and kafka_adapter with the same code the hot path
uses (``write_events``, ``OperationExecutor``, ``DeadLetterWriter``, the
producer pool), each call protected by the node's circuit breaker. Outages
propagate (for the breaker and the caller); poison requests become typed results.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping

import pydantic_core

from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.models.model_consumed_record import ModelConsumedRecord, ModelTopicPartitionOffset
from omnibase_infra.nodes.kafka_adapter.v1_0_0.dead_letter import DeadLetterWriter
from omnibase_infra.nodes.kafka_adapter.v1_0_0.models import (
    ModelCommitRequest,
    ModelCommitResult,
    ModelDeadLetterRequest,
    ModelDeadLetterResult,
    ModelKafkaAdapterInput,
    ModelKafkaAdapterOutput,
    ModelKafkaHealthCheckResult,
    ModelPublishRequest,
    ModelPublishResult,
    ModelRecordAck,
)
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import write_events
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
    ModelEventStoreWriteRequest,
    ModelEventStoreWriteResult,
    ModelHealthCheckResult,
    ModelOperationFailure,
    ModelOperationRequest,
    ModelOperationResult,
    ModelPostgresAdapterInput,
    ModelPostgresAdapterOutput,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import OperationExecutor
from omnibase_infra.workflow.protocols import ProtocolTopicAcl
from omnibase_infra.workflow.records import (
    DeadLetter,
    OperationOutcome,
    SourceRecord,
    StoredEvent,
    WriteResult,
)

CommitOffsets = Callable[[Mapping[tuple[str, int], int]], Awaitable[None]]


def _stored_event(record: ModelConsumedRecord) -> StoredEvent:
    from datetime import UTC, datetime

    return StoredEvent(
        envelope_id=record.envelope_id,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        event_type=record.event_type,
        correlation_id=record.correlation_id,
        envelope_timestamp=record.envelope_timestamp or datetime.now(UTC),
        payload_json=pydantic_core.to_json(record.payload).decode("utf-8"),
        metadata_json=pydantic_core.to_json(record.metadata).decode("utf-8"),
        source=SourceRecord(record.topic, record.partition, record.offset, None, None, ()),
    )


class PostgresAdapterHandler:
    """``ProtocolPostgresAdapterHandler`` over the pool, the PostgreSQL breaker and the executor."""

    def __init__(
        self,
        database: PostgresConnectionManager,
        breaker: EventBusCircuitBreaker,
        executor: OperationExecutor,
    ) -> None:
        self._database = database
        self._breaker = breaker
        self._executor = executor

    async def handle(self, request: ModelPostgresAdapterInput) -> ModelPostgresAdapterOutput:
        inner = request.request
        if isinstance(inner, ModelOperationRequest):
            return ModelPostgresAdapterOutput(result=await self._operation(inner))
        if isinstance(inner, ModelEventStoreWriteRequest):
            rows = [_stored_event(record) for record in inner.records]

            async def write() -> WriteResult:
                async with self._database.acquire_connection() as conn:
                    return await write_events(conn, rows)

            result = await self._breaker.call(write)
            return ModelPostgresAdapterOutput(
                result=ModelEventStoreWriteResult(
                    received=len(rows), stored=result.inserted, duplicates=result.duplicates
                )
            )
        health = await self._database.health_check()
        return ModelPostgresAdapterOutput(result=ModelHealthCheckResult(health=health))

    async def _operation(self, request: ModelOperationRequest) -> ModelOperationResult:
        command = json.dumps(
            {
                "payload": {"operation": request.operation, "parameters": request.parameters},
                "envelope_id": str(request.request_envelope_id),
                **({"correlation_id": str(request.correlation_id)} if request.correlation_id else {}),
            }
        ).encode("utf-8")
        envelope = decode_envelope(command)

        async def execute() -> OperationOutcome:
            async with self._database.acquire_connection() as conn:
                return await self._executor.execute(conn, envelope)

        outcome = await self._breaker.call(execute)
        payload = json.loads(outcome.reply_value)["payload"]
        error = payload.get("error")
        return ModelOperationResult(
            operation=request.operation,
            request_envelope_id=request.request_envelope_id,
            status=payload["status"],
            rows=tuple(payload.get("rows", ())),
            row_count=int(payload.get("row_count", 0)),
            failure=ModelOperationFailure(
                error_kind=error["kind"], message=error["message"], sqlstate=error.get("sqlstate")
            )
            if error
            else None,
        )


class KafkaAdapterHandler:
    """``ProtocolKafkaAdapterHandler`` over the producer pool, the Kafka breaker and the consumer."""

    def __init__(
        self,
        producers: KafkaProducerPool,
        breaker: EventBusCircuitBreaker,
        *,
        commit: CommitOffsets | None = None,
        topic_acl: ProtocolTopicAcl | None = None,
    ) -> None:
        self._producers = producers
        self._breaker = breaker
        self._topic_acl = topic_acl
        self._dlq = DeadLetterWriter(producers, topic_acl)
        self.commit_offsets = commit

    async def handle(self, request: ModelKafkaAdapterInput) -> ModelKafkaAdapterOutput:
        inner = request.request
        if isinstance(inner, ModelPublishRequest):
            acks: list[ModelRecordAck] = []
            if self._topic_acl is not None:
                for record in inner.records:
                    self._topic_acl.require_declared(record.topic)
            for record in inner.records:
                send = functools.partial(
                    self._producers.send, record.topic, record.value, record.key, record.headers
                )
                partition, offset = await self._breaker.call(send)
                acks.append(ModelRecordAck(topic=record.topic, partition=partition, offset=offset))
            return ModelKafkaAdapterOutput(result=ModelPublishResult(acknowledged=tuple(acks)))
        if isinstance(inner, ModelDeadLetterRequest):
            return ModelKafkaAdapterOutput(result=await self._dead_letter(inner))
        if isinstance(inner, ModelCommitRequest):
            return ModelKafkaAdapterOutput(result=await self._commit(inner))
        health = await self._producers.health_check()
        return ModelKafkaAdapterOutput(result=ModelKafkaHealthCheckResult(health=health))

    async def _dead_letter(self, request: ModelDeadLetterRequest) -> ModelDeadLetterResult:
        from datetime import UTC, datetime

        letter = DeadLetter(
            record=SourceRecord(
                request.source_topic,
                request.partition,
                request.offset,
                request.key,
                request.value,
                tuple(request.original_headers),
            ),
            stage=request.stage,
            error_class=request.error_class,
            message=request.message,
            attempts=request.attempts,
            failed_at=datetime.now(UTC),
        )

        async def write() -> tuple[int, int]:
            return await self._dlq.write(letter)

        partition, offset = await self._breaker.call(write)
        ack = ModelRecordAck(topic=request.dead_letter_topic, partition=partition, offset=offset)
        return ModelDeadLetterResult(acknowledged=ack)

    async def _commit(self, request: ModelCommitRequest) -> ModelCommitResult:
        if self.commit_offsets is None:
            from omnibase_infra.errors import LifecycleError

            raise LifecycleError("kafka_adapter: no consumer is running to commit for")
        await self.commit_offsets({(o.topic, o.partition): o.offset for o in request.offsets})
        return ModelCommitResult(
            committed=tuple(
                ModelTopicPartitionOffset(topic=o.topic, partition=o.partition, offset=o.offset)
                for o in request.offsets
            )
        )


__all__ = ["KafkaAdapterHandler", "PostgresAdapterHandler"]
