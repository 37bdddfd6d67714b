"""kafka_wrapper (COMPUTE): consumed Kafka records into ONEX envelopes, poison classified on the way.

``decode_events`` turns each record into an event-store row (``envelope_codec``: the
msgspec fast path for envelopes in the common shape, the envelope model otherwise) and
``decode_commands`` into an operation command; a record that is not UTF-8 JSON
(stage ``decode``) or not an envelope (stage ``validate``) becomes a dead letter with its
coordinates, its stage and its error, for kafka_adapter's ``publish_dead_letters``. No
I/O; it decodes ``DECODE_CHUNK`` records at a time (``stored_rows.decode_stored_rows``)
and yields to the event loop between chunks, so the batch in flight keeps moving while the
next one is decoded.
"""

from __future__ import annotations

import asyncio
import time

from omnibase_core.models.compute.model_compute_input import ModelComputeInput
from omnibase_core.models.compute.model_compute_output import ModelComputeOutput
from omnibase_core.nodes.node_compute import NodeCompute

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import PoisonRecordError, UnsupportedRequestError
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.stored_rows import decode_stored_rows
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.protocols.protocol_clock import ProtocolClock
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import Command, CommandBatch, ConsumedBatch, EventBatch
from omnibase_infra.workflow.records import DeadLetter, SourceRecord, StoredEvent

NODE_NAME = "kafka_wrapper"
# Records decoded at a time (the fast path's checks run once per chunk); the node yields to
# the event loop between chunks.
DECODE_CHUNK = 256


class NodeKafkaWrapperCompute(ContractBound, NodeCompute[ConsumedBatch, EventBatch]):
    """The kafka_wrapper node; see the module docstring."""

    node_name = NODE_NAME
    _clock: Clock = SYSTEM_CLOCK

    async def _initialize_node_resources(self) -> None:
        await super()._initialize_node_resources()
        clock = await self.resolve_optional(ProtocolClock)  # type: ignore[type-abstract]  # resolved by protocol type
        object.__setattr__(self, "_clock", clock or SYSTEM_CLOCK)

    @operation(input=ConsumedBatch, output=EventBatch)
    async def decode_events(self, batch: ConsumedBatch, step: StepContext) -> EventBatch:
        """Each record as an event-store row, in consumption order; poison as dead letters."""
        events: list[StoredEvent] = []
        dead = list(batch.dead)
        records = [record for part in batch.records.values() for record in part]
        for start in range(0, len(records), DECODE_CHUNK):
            if start:
                await asyncio.sleep(0)
            # The consumed record itself is each row's source (no per-record copy).
            rows, poisoned = decode_stored_rows(records[start : start + DECODE_CHUNK])
            events.extend(rows)
            if poisoned:
                now = self._clock.now()
                dead.extend(DeadLetter.from_error(record, error, now) for record, error in poisoned)
        return EventBatch(batch.records, dead, batch.committed, events=events)

    @operation(input=ConsumedBatch, output=CommandBatch)
    async def decode_commands(self, batch: ConsumedBatch, step: StepContext) -> CommandBatch:
        """Each record as an operation command, in consumption order; poison as dead letters."""
        commands: list[Command] = []
        dead = list(batch.dead)
        for records in batch.records.values():
            for record in records:
                try:
                    envelope = decode_envelope(record.value)
                except PoisonRecordError as error:
                    dead.append(DeadLetter.from_error(record, error, self._clock.now()))
                    continue
                commands.append(Command(SourceRecord.of(record), envelope))
        return CommandBatch(batch.records, dead, batch.committed, commands=commands)

    async def process(self, input_data: ModelComputeInput[ConsumedBatch]) -> ModelComputeOutput[EventBatch]:
        """``decode_events`` in core's compute envelope."""
        started = time.perf_counter()
        step = StepContext(workflow="-", step_id="decode", node=NODE_NAME, operation="decode_events")
        if not isinstance(input_data.data, ConsumedBatch):
            raise UnsupportedRequestError(f"{NODE_NAME} decodes a ConsumedBatch")
        output = await self.decode_events(input_data.data, step)
        return ModelComputeOutput[EventBatch](
            result=output,
            operation_id=input_data.operation_id,
            computation_type=input_data.computation_type,
            processing_time_ms=(time.perf_counter() - started) * 1000,
        )


__all__ = ["NODE_NAME", "NodeKafkaWrapperCompute"]
