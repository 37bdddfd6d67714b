"""postgres_adapter's operations on commands: run each at most once, answer refused replies.

``run_operation`` runs the commands of a batch one by one, in order, each through the
PostgreSQL breaker inside a span continuing the command's own trace
(``OperationExecutor``: the inbox keeps the reply, so a redelivered command gets the same
reply without running again). ``answer_refused_replies`` replaces each reply the broker
refused for good (too large, corrupt) with a small failed reply kept in the inbox, so a
poison command is answered once and never retried. Outages raise: the batch is rewound.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import TYPE_CHECKING

from omnibase_infra.observability.propagation import extract_trace_context
from omnibase_infra.observability.spans import trace_kafka_operation
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import Command, CommandBatch
from omnibase_infra.workflow.records import OperationOutcome

if TYPE_CHECKING:
    from omnibase_infra.errors import PoisonRecordError
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
        ModelOperationRequest,
        ModelOperationResult,
    )
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.resources import PostgresResources
    from omnibase_infra.workflow.envelopes import Envelope
    from omnibase_infra.workflow.protocols import ProtocolWorkflowObserver

logger = logging.getLogger(__name__)


class CommandOperations:
    """Mixin of the postgres_adapter node (its ``resources`` and ``_observer``)."""

    if TYPE_CHECKING:

        @property
        def resources(self) -> PostgresResources: ...

        _observer: ProtocolWorkflowObserver | None

    operations_run: int = 0
    consumer_group: str | None = None
    """The consumer group commands are read in (named on their ``process`` spans)."""

    @operation(input=CommandBatch)
    async def run_operation(self, batch: CommandBatch, step: StepContext) -> CommandBatch:
        """Run each command of ``batch`` in order; its reply is what ``publish_replies`` sends."""
        resources = self.resources
        for command in batch.commands:
            if command.reply_value is not None:
                continue  # answered in an earlier pass of this batch
            parent = extract_trace_context(command.source.headers, command.envelope)
            async with trace_kafka_operation(
                "process",
                command.source.topic,
                partition=command.source.partition,
                offset=command.source.offset,
                key=command.source.key,
                correlation_id=command.envelope.correlation_id,
                consumer_group=self.consumer_group,
                parent=parent,
            ) as span:
                outcome = await resources.breaker.call(functools.partial(self._execute, command.envelope))
                command.span_context = span.get_span_context()
            _answer(command, outcome)
            object.__setattr__(self, "operations_run", self.operations_run + 1)
        return batch

    @operation(input=CommandBatch)
    async def answer_refused_replies(self, batch: CommandBatch, step: StepContext) -> CommandBatch:
        """Replace each reply the broker refused for good with a small failed reply (kept in the inbox)."""
        resources = self.resources
        for command in batch.commands:
            refused = command.refused
            if refused is None or command.replied or command.substituted:
                continue
            logger.warning(
                "the reply to command %s was refused (%s); answering with a failed reply",
                command.envelope.envelope_id,
                refused.poison_class,
            )
            substitute = functools.partial(self._refused_reply, command.envelope, refused)
            _answer(command, await resources.breaker.call(substitute))
            command.substituted = True
        return batch

    async def _execute(self, request: Envelope) -> OperationOutcome:
        resources = self.resources
        async with resources.database.acquire_connection() as conn:
            return await resources.executor.execute(conn, request)

    async def _refused_reply(self, request: Envelope, refused: PoisonRecordError) -> OperationOutcome:
        resources = self.resources
        async with resources.database.acquire_connection() as conn:
            return await resources.executor.refused_reply(conn, request, refused)

    async def run_one_operation(self, request: ModelOperationRequest) -> ModelOperationResult:
        """A typed operation request (the node on its own): run it, return its result."""
        from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
            ModelOperationFailure,
            ModelOperationResult,
        )
        from omnibase_infra.workflow.envelopes import command_envelope

        resources = self.resources
        envelope = command_envelope(
            request.operation, request.parameters, request.request_envelope_id, request.correlation_id
        )

        outcome = await resources.breaker.call(functools.partial(self._execute, envelope))
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


def _answer(command: Command, outcome: OperationOutcome) -> None:
    command.outcome = outcome
    command.replied = False


__all__ = ["CommandOperations"]
