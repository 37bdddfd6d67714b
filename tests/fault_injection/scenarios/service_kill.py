"""(1) ``kill -9`` of the service at random moments of the stream, restarted each time.

One kill falls at a random moment of each slice of the stream, but never before the
previous restart has written its first row.

Commands (``enqueue_outbox_event``) are streamed beside the envelopes, so a kill can also
land between a command's transaction and its reply, or between the relay's publish and
its mark: commands must still be applied exactly once and every outbox row published.
"""

from __future__ import annotations

import asyncio
import logging

from fault_injection.outbox_checks import check_commands, command_payload
from fault_injection.results import ScenarioResult
from fault_injection.stream import EnvelopeStream
from fault_injection.streaming import RunContext, StreamPlan, StreamRun, random_moments, run_streamed

logger = logging.getLogger("faults")

TITLE = "service killed with SIGKILL at random moments, restarted each time"


async def run_service_kill(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("service-kill", TITLE)
    plan = StreamPlan(count=4_000, rate=800) if ctx.quick else StreamPlan(count=100_000, rate=1_000)
    kills = 1 if ctx.quick else 6
    command_count = 100 if ctx.quick else 1_500
    state: dict[str, object] = {}

    async def prepare(run: StreamRun) -> None:
        target = await run.workspace.create_topic(run.workspace.outbox_topic, 3)
        commands = EnvelopeStream(
            ctx.servers.bootstrap,
            run.workspace.topics.command,
            partitions=1,
            count=command_count,
            rate=command_count * plan.rate / plan.count,
            scenario=result.name,
            event_type="onex.postgres.operation.requested",
            payload=command_payload(target),
        )
        state.update(target=target, commands=commands, task=asyncio.create_task(commands.run()))

    async def inject(run: StreamRun) -> None:
        for moment in random_moments(ctx.rng, kills):
            await run.stream.reached(moment)
            await asyncio.sleep(ctx.rng.uniform(0, 0.2))
            fault = await run.kill_and_restart(run.services[0])
            run.record(fault)
            # The next kill waits for this restart's first write, so that each recovery
            # is measured on its own (a kill before it would fold two outages into one).
            await run.wait_first_row_after(fault.ended_at)

    async def verify(run: StreamRun) -> None:
        commands = state["commands"]
        assert isinstance(commands, EnvelopeStream)
        task = state["task"]
        assert isinstance(task, asyncio.Task)
        await asyncio.wait_for(task, 300)
        await run.workspace.wait_lag_zero(120, run.workspace.topics.command)
        await check_commands(
            ctx.servers,
            result,
            run.workspace.schema,
            commands,
            run.workspace.topics.completed,
            str(state["target"]),
        )

    await run_streamed(ctx, result, plan, inject, prepare=prepare, verify=verify)
    return result


__all__ = ["run_service_kill"]
