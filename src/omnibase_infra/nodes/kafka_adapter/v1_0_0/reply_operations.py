"""kafka_adapter's ``publish_replies``: send each command's reply, once, and wait for the acks.

A reply goes to the topic it was addressed to (group_gateway's addressing, through
postgres_adapter's executor), allowed by the topic ACL for ``reply``, keyed like its
command, inside a ``send`` span that continues the command's ``process`` span. The
replies of a batch are sent together, on one lane of the producer pool (built into one
batch per partition, in order, and sent without waiting out the producer's ``linger_ms``),
in one call through the Kafka breaker, and all acknowledged before the step returns; an
outage raises once every reply settled (the batch is rewound; a redelivered command gets
the reply its inbox kept). A reply the broker refuses for good (too large, corrupt) is marked ``refused``
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
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.observability.propagation import inject_trace_context
from omnibase_infra.observability.spans import end_span, set_delivery_attributes, start_kafka_span
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import Command, CommandBatch
from omnibase_infra.workflow.protocols import notify
from omnibase_infra.workflow.records import DeadLetter

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from omnibase_infra.clock import Clock
    from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
    from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
    from omnibase_infra.infrastructure.kafka_producer_protocol import Ack
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
        unkeyed = await self.breaker.call(functools.partial(self._send_replies, pending, keyed=True))
        if unkeyed:
            # Only the command's own key can make a small failed reply too large.
            for command in unkeyed:
                logger.warning(
                    "the failed reply to command %s is sent without its key", command.envelope.envelope_id
                )
            refused = await self.breaker.call(functools.partial(self._send_replies, unkeyed, keyed=False))
            if refused:
                error = refused[0].refused
                assert error is not None
                raise error
        for command in pending:
            if not command.replied:
                continue
            outcome = command.outcome
            assert outcome is not None
            notify(self._observer, "on_operation", command.source, command.envelope, outcome)
            if outcome.poison is not None:
                batch.dead.append(DeadLetter.from_error(command.source, outcome.poison, self._clock.now()))
        return batch

    async def _send_replies(self, commands: list[Command], *, keyed: bool) -> list[Command]:
        """Send the replies of ``commands`` together (one lane of the pool: a batch per partition,
        not waiting out ``linger_ms``), each in its ``send`` span, and wait for every ack.

        Marks each acknowledged one ``replied`` and each refused one (by the broker, or by the
        topic ACL before anything is sent) ``refused``; returns the refused ones that were
        already substitutes (to send again without their key). Raises the first other error
        (an outage: one call of the breaker, counted once) once every reply settled."""
        spans: list[Span] = []
        outcomes: list[Ack | Exception | None] = []  # None: sent, its result comes from the lane
        records: list[OutboundEvent] = []
        try:
            for command in commands:
                outcome = command.outcome
                assert outcome is not None
                key = command.source.key if keyed else None
                parent = (
                    trace.set_span_in_context(trace.NonRecordingSpan(command.span_context))
                    if command.span_context is not None
                    else None
                )
                span = start_kafka_span(
                    "send",
                    outcome.reply_topic,
                    key=key,
                    correlation_id=command.envelope.correlation_id,
                    parent=parent,
                )
                spans.append(span)
                if self._acl is not None:
                    try:
                        self._acl.require(outcome.reply_topic, "reply")
                    except PoisonRecordError as refusal:  # this reply only: the others go
                        outcomes.append(refusal)
                        continue
                headers = inject_trace_context(None, trace.set_span_in_context(span))
                records.append(OutboundEvent(outcome.reply_topic, outcome.reply_value, key, tuple(headers)))
                outcomes.append(None)
            sent = iter(await self.producers.send_batch(records))
        except BaseException as exc:  # nothing was sent, or the wait was cancelled (a timeout)
            for span in spans:
                end_span(span, exc)
            raise
        refused_again: list[Command] = []
        failure: Exception | None = None
        for command, span, early in zip(commands, spans, outcomes, strict=True):
            result = next(sent) if early is None else early
            if isinstance(result, Exception):
                end_span(span, result)
                if not isinstance(result, PoisonRecordError):
                    failure = failure or result
                    continue
                command.refused = result  # answer_refused_replies replaces it
                if command.substituted:
                    refused_again.append(command)
                continue
            set_delivery_attributes(span, *result)
            end_span(span)
            command.replied = True
        if failure is not None:
            raise failure
        return refused_again


def _due(command: Command) -> bool:
    """Not refused, or refused and already replaced by its failed reply."""
    return command.refused is None or command.substituted


__all__ = ["ReplyOperations"]
