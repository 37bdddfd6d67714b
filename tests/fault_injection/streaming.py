"""The shape every streamed scenario shares: start the service, stream, inject, verify.

A scenario supplies an injector coroutine that runs while the stream runs and records
each fault it causes (``FaultTiming``); this module then drains the consumer group,
reconciles the event store with the log, computes the recovery times, checks that every
instance still alive is healthy and stops with exit code 0 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from service_harness import ServiceProcess

from fault_injection.ledger import (
    caught_up_after,
    first_row_after,
    longest_stall,
    read_event_store,
    read_topic,
    reconcile,
)
from fault_injection.results import FaultTiming, ScenarioResult
from fault_injection.servers import FaultServers
from fault_injection.stream import EnvelopeStream
from fault_injection.workspace import Workspace

logger = logging.getLogger("faults")


@dataclass
class RunContext:
    """Settings shared by every scenario of one ``scripts/faults`` run."""

    servers: FaultServers
    run_dir: Path
    quick: bool
    rng: random.Random
    keep_data: bool = False
    environment: str = "development"


@dataclass
class StreamPlan:
    count: int
    rate: float
    partitions: int = 6
    instances: int = 1
    drain_within: float = 240.0
    service_env: dict[str, str] = field(default_factory=dict)
    """Variables set on every service instance (e.g. ``ONEX_CONTRACTS_PATH``)."""


@dataclass
class StreamRun:
    """What an injector works with."""

    ctx: RunContext
    workspace: Workspace
    stream: EnvelopeStream
    result: ScenarioResult
    faults_partitions: dict[int, set[int]] = field(default_factory=dict)  # fault index -> partitions

    @property
    def services(self) -> list[ServiceProcess]:
        return self.workspace.services

    def record(self, fault: FaultTiming, partitions: set[int] | None = None) -> None:
        if partitions is not None:
            self.faults_partitions[len(self.result.faults)] = partitions
        self.result.faults.append(fault)
        logger.info(
            "  fault %d: %s for %.1f s%s",
            len(self.result.faults),
            fault.kind,
            fault.duration_s,
            f" ({fault.detail})" if fault.detail else "",
        )

    async def kill_and_restart(self, process: ServiceProcess) -> FaultTiming:
        """SIGKILL ``process``, start it again at once; return the fault (ready time filled)."""
        started = time.time()
        assert process.proc is not None
        pid = process.proc.pid
        process.kill()
        process.start()
        ended = time.time()
        await process.wait_ready(within=120)
        fault = FaultTiming("service kill -9", started, ended, detail=f"pid {pid}")
        fault.ready_s = time.time() - ended
        return fault

    async def wait_first_row_after(self, moment: float, within: float = 120.0) -> None:
        """Wait until the event store has a row written after ``moment`` (wall clock)."""
        deadline = time.monotonic() + within
        conn = await self.ctx.servers.connect(self.workspace.schema)
        try:
            while time.monotonic() < deadline:
                latest = await conn.fetchval(
                    "SELECT extract(epoch FROM max(stored_at)) FROM onex_event_store"
                )
                if latest is not None and float(latest) >= moment:
                    return
                await asyncio.sleep(0.2)
        finally:
            await conn.close()


Injector = Callable[[StreamRun], Awaitable[None]]
Hook = Callable[[StreamRun], Awaitable[None]]


async def run_streamed(
    ctx: RunContext,
    result: ScenarioResult,
    plan: StreamPlan,
    inject: Injector,
    *,
    prepare: Hook | None = None,
    verify: Hook | None = None,
    restore: Callable[[], Awaitable[None]] | None = None,
    configure: Callable[[ServiceProcess], Awaitable[None]] | None = None,
) -> None:
    """Run one streamed scenario into ``result`` (never raises: errors land in ``result.error``).

    ``configure`` may change each service's environment after the schema was migrated (with
    the servers' own credentials) and before the service starts.
    """
    started = time.monotonic()
    workspace = Workspace(
        ctx.servers, result.name, ctx.run_dir, partitions=plan.partitions, environment=ctx.environment
    )
    try:
        await workspace.create()
        for _ in range(plan.instances):
            process = workspace.new_service()
            process.env.update(plan.service_env)
            if configure is not None:
                await configure(process)
            process.start()
        for process in workspace.services:
            await process.wait_ready(within=120)
        stream = EnvelopeStream(
            ctx.servers.bootstrap,
            workspace.topics.store,
            partitions=plan.partitions,
            count=plan.count,
            rate=plan.rate,
            scenario=result.name,
        )
        run = StreamRun(ctx, workspace, stream, result)
        if prepare is not None:
            await prepare(run)
        logger.info("  streaming %d envelopes at %.0f/s", plan.count, plan.rate)
        stream_task = asyncio.create_task(stream.run(), name="stream")
        try:
            await inject(run)
        finally:
            if restore is not None:
                await restore()
        await asyncio.wait_for(stream_task, timeout=plan.count / plan.rate + 600)
        result.events = plan.count
        result.resends = stream.stats.resends
        stream_end = max((r.first_ack or 0.0) for r in stream.records)
        lag_zero = await workspace.wait_lag_zero(plan.drain_within)
        if lag_zero is None:
            result.check("consumer group lag 0 after the stream", False, f"not within {plan.drain_within} s")
        else:
            result.drain_s = max(0.0, time.time() - stream_end)
        if verify is not None:
            await verify(run)
        await _reconcile(run)
        for process in workspace.services:
            if process.proc is not None and process.proc.poll() is None:
                codes = await workspace.wait_healthy(process)
                result.check(
                    f"{process.log_path.name}: /health and /ready 200", codes == (200, 200), str(codes)
                )
        exits = await asyncio.to_thread(workspace.stop_all)
        result.check("SIGTERM: every instance exits 0", all(c == 0 for c in exits), str(exits))
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        logger.error("  scenario %s failed:\n%s", result.name, traceback.format_exc())
        if restore is not None:
            try:
                await restore()
            except Exception:
                logger.exception("  restoring the servers failed")
    finally:
        workspace.kill_all()
        if not ctx.keep_data:
            try:
                await workspace.drop()
            except Exception as exc:
                logger.warning("  cleanup of %s failed: %s", workspace.schema, exc)
        result.duration_s = time.monotonic() - started


async def _reconcile(run: StreamRun) -> None:
    result, stream, workspace = run.result, run.stream, run.workspace
    log = await read_topic(run.ctx.servers.bootstrap, workspace.topics.store)
    conn = await run.ctx.servers.connect(workspace.schema)
    try:
        stored = await read_event_store(conn)
    finally:
        await conn.close()
    acked = {r.envelope_id: [(p, o) for p, o, _ in r.acks] for r in stream.records}
    summary = reconcile(workspace.topics.store, log, stored, acked=acked, expected_ids=set(stream.by_id))
    result.lost = summary.lost
    result.duplicated = summary.duplicated
    result.misplaced = summary.misplaced
    result.phantom = summary.phantom
    result.broker_lost = summary.broker_lost
    result.log_duplicates = summary.log_duplicates
    result.examples.update(summary.examples)
    result.figures["log_records"] = summary.log_records
    result.figures["stored_rows"] = summary.stored_rows
    never_acked = sum(1 for r in stream.records if not r.acks)
    result.check("every envelope acknowledged by the broker", never_acked == 0, f"{never_acked} never acked")
    result.check(
        "every envelope of the stream is in the log",
        summary.in_log == len(stream.records),
        f"{summary.in_log} of {len(stream.records)}",
    )
    for index, fault in enumerate(result.faults):
        partitions = run.faults_partitions.get(index)
        fault.first_row_s = first_row_after(stored, fault.ended_at, partitions)
        before = [
            r.envelope_id
            for r in stream.acked_before(fault.ended_at)
            if partitions is None or r.partition in partitions
        ]
        fault.caught_up_s = caught_up_after(stored, before, fault.ended_at)
        # The gap in writes around the fault: up to the first row written after its end.
        fault.stall_s = longest_stall(
            stored, fault.started_at, fault.ended_at + (fault.first_row_s or 0.0), partitions
        )


def random_moments(rng: random.Random, count: int, start: float = 0.08, end: float = 0.85) -> list[float]:
    """``count`` random stream fractions in [start, end], one in each equal slice, sorted."""
    width = (end - start) / count
    return [start + width * i + rng.uniform(0.1 * width, 0.9 * width) for i in range(count)]


__all__ = ["RunContext", "StreamPlan", "StreamRun", "random_moments", "run_streamed"]
