"""kafka_adapter's ``publish_replies``: send each command's reply, once, and wait for the acks.

A reply goes to the topic it was addressed to (group_gateway's addressing, through
postgres_adapter's executor), allowed by the topic ACL for ``reply``, keyed like its
command, inside a ``send`` span that continues the command's ``process`` span. The
replies of a batch are sent together, without waiting out the producer's ``linger_ms`` (they
are all queued in the same turn of the event loop, so they still travel in one request per
partition), and all acknowledged before the step returns; an
outage raises (the batch is rewound; a redelivered command gets the reply its inbox
kept). A reply the broker refuses for good (too large, corrupt) is marked ``refused``
for ``answer_refused_replies``; when its small failed replacement is refused too (only
the command's own key can make it too large), it is sent without the key. A command
that failed for good is dead-lettered once its reply is acknowledged.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from opentelemetry import trace

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.nodes.kafka_adapter.v1_0_0.acks import settle
from omnibase_infra.observability.propagation import inject_trace_context
from omnibase_infra.observability.spans import set_delivery_attributes, trace_kafka_operation
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import Command, CommandBatch
from omnibase_infra.workflow.protocols import notify
from omnibase_infra.workflow.records import DeadLetter

if TYPE_CHECKING:
    from omnibase_infra.clock import Clock
    from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
    from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
    from omnibase_infra.workflow.protocols import ProtocolTopicAcl, ProtocolWorkflowObserver

logger = logging.getLogger(__name__)


class ReplyOperations:
    """Mixin of the kafka_adapter node (its producers, breaker, ACL, clock and observer)."""

    if TYPE_CHECKING:

        @property
        def producers(self) -> KafkaProducerPool: ...
        @property
        def breaker(self) -> EventBusCircuitBreaker: ...

        _acl: ProtocolTopicAcl | None
        _clock: Clock
        _observer: ProtocolWorkflowObserver | None

    @operation(input=CommandBatch)
    async def publish_replies(self, batch: CommandBatch, step: StepContext) -> CommandBatch:
        """Send every reply not yet acknowledged; see the module docstring."""
        pending = [c for c in batch.commands if c.outcome is not None and not c.replied and _due(c)]
        if not pending:
            return batch
        await settle([self._reply(c) for c in pending])
        for command in pending:
            if not command.replied:
                continue
            outcome = command.outcome
            assert outcome is not None
            notify(self._observer, "on_operation", command.source, command.envelope, outcome)
            if outcome.poison is not None:
                batch.dead.append(DeadLetter.from_error(command.source, outcome.poison, self._clock.now()))
        return batch

    async def _reply(self, command: Command) -> None:
        try:
            await self._send_reply(command, keyed=True)
        except PoisonRecordError as error:
            if not command.substituted:
                command.refused = error  # answer_refused_replies replaces it
                return
            # Only the command's own key can make a small failed reply too large.
            logger.warning(
                "the failed reply to command %s is sent without its key", command.envelope.envelope_id
            )
            await self._send_reply(command, keyed=False)
        command.replied = True

    async def _send_reply(self, command: Command, *, keyed: bool) -> tuple[int, int]:
        outcome = command.outcome
        assert outcome is not None
        key = command.source.key if keyed else None
        parent = (
            trace.set_span_in_context(trace.NonRecordingSpan(command.span_context))
            if command.span_context is not None
            else None
        )
        async with trace_kafka_operation(
            "send",
            outcome.reply_topic,
            key=key,
            correlation_id=command.envelope.correlation_id,
            parent=parent,
        ) as span:
            if self._acl is not None:
                self._acl.require(outcome.reply_topic, "reply")
            send = functools.partial(
                self.producers.send,
                outcome.reply_topic,
                outcome.reply_value,
                key,
                inject_trace_context(None),
                linger=False,  # every reply of the batch is sent by now: lingering only delays them
            )
            partition, offset = await self.breaker.call(send)
            set_delivery_attributes(span, partition, offset)
            return partition, offset


def _due(command: Command) -> bool:
    """Not refused, or refused and already replaced by its failed reply."""
    return command.refused is None or command.substituted


__all__ = ["ReplyOperations"]
