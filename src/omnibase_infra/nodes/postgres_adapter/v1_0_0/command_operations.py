"""postgres_adapter's operations on commands: run each at most once, answer refused replies.

``run_operation`` runs the commands of a batch one by one, in order, each through the
PostgreSQL breaker inside a span continuing the command's own trace
(``OperationExecutor``: the inbox keeps the reply, so a redelivered command gets the same
reply without running again). ``answer_refused_replies`` replaces each reply the broker
refused for good (too large, corrupt) with a small failed reply kept in the inbox, so a
poison command is answered once and never retried. Outages raise: the batch is rewound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING

from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import PlannedCommand
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_reads import ReadSession
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
    from omnibase_infra.workflow.protocols import DbConnection, ProtocolWorkflowObserver

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
        """Answer each command of ``batch``; its reply is what ``publish_replies`` sends.

        Writes run one at a time, in order, each in its own transaction. The read-only commands
        between two writes form a run (``ReadSession``): they share the session set-up and the
        inbox lookup, and run on up to ``read_connections`` connections at once; a write waits
        for the run before it, and the run after it waits for the write.
        """
        executor = self.resources.executor
        pending = [c for c in batch.commands if c.reply_value is None]  # else answered in an earlier pass
        for run in _runs([(c, executor.plan(c.envelope)) for c in pending]):
            command, planned = run[0]
            if isinstance(planned, PlannedCommand) and not planned.read_only:
                await self._answer(command, functools.partial(self._execute_planned, planned))
            else:
                await self._run_reads(run)
        return batch

    async def _answer(self, command: Command, run: Callable[[], Awaitable[OperationOutcome]]) -> None:
        """``run`` answers ``command`` through the breaker, inside its ``process`` span."""
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
            outcome = await self.resources.breaker.call(run)
            command.span_context = span.get_span_context()
        _answer(command, outcome)
        object.__setattr__(self, "operations_run", self.operations_run + 1)

    async def _run_reads(self, run: list[tuple[Command, Planned]]) -> None:
        """A run of read-only commands (and commands answered without SQL); see ``operation_reads``."""
        resources = self.resources
        reads = [planned for _, planned in run if isinstance(planned, PlannedCommand)]
        if not reads:
            for command, planned in run:
                assert isinstance(planned, OperationOutcome)
                await self._answer(command, functools.partial(_at_once, planned))
            return
        session = ReadSession(resources.executor)
        breaker = resources.breaker
        todo = iter(run)

        per_round_trip = resources.reads_per_round_trip  # set once the connections are known

        async def work(conn: DbConnection) -> None:
            # Shared: each worker takes the next commands, up to per_round_trip at a time, and
            # reads their statements in one round trip (``ReadSession.prefetch``) before answering.
            while chunk := list(itertools.islice(todo, per_round_trip)):
                planned_reads = [p for _, p in chunk if isinstance(p, PlannedCommand)]
                if len(planned_reads) > 1 and breaker.allows_calls():  # an open breaker: no reads ahead
                    await session.prefetch(conn, planned_reads)
                for command, planned in chunk:
                    if isinstance(planned, PlannedCommand):
                        await self._answer(command, functools.partial(session.read, conn, planned))
                    else:
                        await self._answer(command, functools.partial(_at_once, planned))

        async with contextlib.AsyncExitStack() as stack:
            first = await breaker.call(functools.partial(self._lend, stack))
            await breaker.call(functools.partial(session.begin, first, reads))
            others: list[DbConnection] = []
            for _ in range(_connections_for(len(reads), resources.read_connections) - 1):
                # Only connections idle in the pool right now: a run never waits for more
                # than its first one, never grows the pool, and a busy pool is no outage.
                if resources.database.get_connection_stats().checked_in == 0:
                    break
                others.append(await breaker.call(functools.partial(self._lend, stack)))
            # Spread the reads evenly: each connection's share in as few round trips as allowed.
            per_round_trip = min(per_round_trip, -(-len(run) // (len(others) + 1)))
            await _all([work(first)] + [_joined(breaker.call, session, conn, work) for conn in others])
            if session.to_keep:  # failed replies to keep: on a connection whose settings are reset
                await breaker.call(functools.partial(session.finish, first))
            # Otherwise the pool's reset on release (RESET ALL) puts every connection's settings
            # back: no RESET round trip of our own. Answered, the connections go back to the
            # pool (that reset, a round trip each) while the replies are sent, not before; on
            # an error they go back first, in ``stack``'s exit, where an outage is translated.
            lent = stack.pop_all()
        resources.release_later(lent.aclose())

    async def _lend(self, stack: contextlib.AsyncExitStack) -> DbConnection:
        """A pooled connection, given back when ``stack`` closes (outages translated there)."""
        return await stack.enter_async_context(self.resources.database.acquire_connection())

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

    async def _execute_planned(self, planned: PlannedCommand) -> OperationOutcome:
        resources = self.resources
        async with resources.database.acquire_connection() as conn:
            return await resources.executor.execute_planned(conn, planned)

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


type Planned = OperationOutcome | PlannedCommand
"""A command's plan: its answer already (no SQL needed), or the statement it runs."""


def _runs(planned: list[tuple[Command, Planned]]) -> Iterator[list[tuple[Command, Planned]]]:
    """Split a batch into runs: each write alone (a run of one, first), the commands between
    two writes together.

    A command whose envelope_id is already in the current run starts a new one, so that a
    redelivery within the batch sees what the first delivery kept (as one by one).
    """
    run: list[tuple[Command, Planned]] = []
    ids: set[uuid.UUID] = set()
    for command, plan in planned:
        envelope_id = command.envelope.envelope_id
        if isinstance(plan, PlannedCommand) and not plan.read_only:
            if run:
                yield run
            yield [(command, plan)]
            run, ids = [], set()
            continue
        if envelope_id in ids:
            yield run
            run, ids = [], set()
        run.append((command, plan))
        ids.add(envelope_id)
    if run:
        yield run


READS_PER_CONNECTION = 3
"""A connection of a read run costs two round trips besides its reads (set-up, the pool's reset on
release) and a task of its own, so each one the run takes must get at least this many reads."""


def _connections_for(reads: int, read_connections: int) -> int:
    """How many connections a run of ``reads`` read-only commands is spread over."""
    return max(1, min(read_connections, reads // READS_PER_CONNECTION))


async def _at_once(outcome: OperationOutcome) -> OperationOutcome:
    return outcome


async def _joined(
    call: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]],
    session: ReadSession,
    conn: DbConnection,
    work: Callable[[DbConnection], Awaitable[None]],
) -> None:
    """Another connection of a read run: set up (through the breaker ``call``), then take commands."""
    await call(functools.partial(session.join, conn))
    await work(conn)


async def _all(jobs: list[Coroutine[object, object, None]]) -> None:
    """Run ``jobs`` at once; on the first failure cancel the others, wait for them, and raise it."""
    if len(jobs) == 1:
        await jobs[0]
        return
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()  # only the unfinished ones are affected
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error


__all__ = ["CommandOperations"]
