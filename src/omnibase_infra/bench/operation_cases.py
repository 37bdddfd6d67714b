"""Cases 4 and 4b: operations over the bus (command sent → reply received), timed from outside.

Both send ``get_event_by_id`` commands (a one-row read of an envelope case 2 stored) to
the service's command topic and match each reply on the reply topics by its
``correlation_id``; the round trip is the command's send → its reply read by the bench's
own consumer.

- **4 operations** offers a fixed rate (``--ops-rate``, 50/s by default): the latency of a
  lightly loaded service.
- **4b operations at saturation** keeps a window of outstanding commands (``--ops-window``)
  for ``--ops-seconds``: each reply lets the next command go (a closed loop), so the service
  always has work queued and never more than the window. Commands/s is what the service
  sustains; the round trip at saturation is mostly time spent queued behind the window.
  The window (2,000 by default) is four of the service's polls (``max_poll_records`` 500 in
  production): with a window of one poll the whole window arrives as one batch, the service
  then waits for the client to read its replies and send the next commands, and the case
  measures that lockstep (the service's thread about 60 % busy) instead of the service.

Case 4b also reports the service's CPU time, the machine's busy CPU time and the bench
client's own CPU time per command, figures a shared machine distorts less than wall-clock
ones (the client's tells whether it, not the service, is the limit); the service's CPU as a
share of one core (its event loop is one thread: near 100 % it is the limit); and, for the
bench's own servers, the broker's and PostgreSQL's CPU per command. The bench's client sends with
``linger_ms=0`` and reads with a short fetch wait, so it adds little to the round trip; at
saturation its own CPU share is part of the machine figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # type: ignore[import-untyped]

from omnibase_infra.bench import profiling
from omnibase_infra.bench.cpu import MachineCpu, ServerCpu, ServerPids, process_cpu_seconds
from omnibase_infra.bench.service_cases import BenchTopics, ServiceProcess
from omnibase_infra.bench.workload import Progress, percentiles

REPLY_WAIT_SECONDS = 120.0


def command_value(target: uuid.UUID, correlation_id: str) -> bytes:
    """A ``get_event_by_id`` command for ``target`` (a fresh envelope_id: never a redelivery)."""
    return json.dumps(
        {
            "payload": {"operation": "get_event_by_id", "parameters": {"envelope_id": str(target)}},
            "envelope_id": str(uuid.uuid4()),
            "correlation_id": correlation_id,
            "event_type": "onex.postgres.operation.requested",
        }
    ).encode()


class _Client:
    """The bench's side of the bus: one producer of commands, one reader of both reply topics."""

    def __init__(self, bootstrap: str, topics: BenchTopics) -> None:
        self.topics = topics
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=5
        )
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
        self.sent_at: dict[str, float] = {}
        self.delays: list[float] = []
        self.failed = 0
        self.replied = asyncio.Condition()
        self.own_cpu_before = process_cpu_seconds(os.getpid())

    async def start(self) -> None:
        await self.consumer.start()
        await self.producer.start()
        parts = [TopicPartition(self.topics.completed, 0), TopicPartition(self.topics.failed, 0)]
        self.consumer.assign(parts)
        await self.consumer.seek_to_end(*parts)
        for p in parts:
            await self.consumer.position(p)

    async def stop(self) -> None:
        await self.producer.stop()
        await self.consumer.stop()

    @property
    def answered(self) -> int:
        return len(self.delays) + self.failed

    async def send(self, target: uuid.UUID) -> None:
        cid = str(uuid.uuid4())
        value = command_value(target, cid)
        self.sent_at[cid] = time.monotonic()
        await self.producer.send(self.topics.command, value, partition=0)

    async def receive(self, done: asyncio.Event) -> None:
        """Match replies to commands until ``done`` is set and every command was answered."""
        while not (done.is_set() and self.answered >= len(self.sent_at)):
            batch = await self.consumer.getmany(timeout_ms=20)
            now = time.monotonic()
            for tp, records in batch.items():
                for r in records:
                    sent = self.sent_at.get(json.loads(r.value).get("correlation_id"))
                    if sent is None:
                        continue
                    if tp.topic == self.topics.failed:
                        self.failed += 1
                    else:
                        self.delays.append((now - sent) * 1000)
            if batch:
                async with self.replied:
                    self.replied.notify_all()

    def figures(
        self,
        seconds: float,
        service: ServiceProcess,
        cpu_before: float,
        machine: MachineCpu,
        servers: ServerCpu | None = None,
    ) -> dict[str, float]:
        answered = max(1, self.answered)
        stats = percentiles(self.delays)
        service_cpu = process_cpu_seconds(service.pid) - cpu_before
        own_cpu = process_cpu_seconds(os.getpid()) - self.own_cpu_before
        machine_figures = machine.figures(answered)
        return {
            "commands": float(len(self.sent_at)),
            "failed_replies": float(self.failed),
            "commands_per_s": self.answered / seconds,
            "service_cpu_us_per_command": service_cpu / answered * 1e6,
            "service_cpu_busy_pct": 100 * service_cpu / seconds,
            "machine_cpu_us_per_command": machine_figures["machine_cpu_us_per_event"],
            "machine_cpu_busy_pct": machine_figures["machine_cpu_busy_pct"],
            "bench_client_cpu_us_per_command": own_cpu / answered * 1e6,
            **(servers.figures(answered, "command") if servers is not None else {}),
            **{f"{k}_ms" if k != "count" else "replies": v for k, v in stats.items()},
        }


async def operations(
    service: ServiceProcess,
    bootstrap: str,
    topics: BenchTopics,
    envelope_ids: list[uuid.UUID],
    rate: float,
    seconds: float,
    progress: Progress,
) -> dict[str, float]:
    """Case 4: ``get_event_by_id`` commands at ``rate``/s; send → reply received, per correlation id."""
    client = _Client(bootstrap, topics)
    await client.start()
    try:
        done = asyncio.Event()
        receiver = asyncio.create_task(client.receive(done))
        cpu_before = process_cpu_seconds(service.pid)
        client.own_cpu_before = process_cpu_seconds(os.getpid())
        machine = MachineCpu()
        started = time.monotonic()
        count = 0
        while (now := time.monotonic()) - started < seconds:
            while count < int((now - started) * rate):
                await client.send(envelope_ids[count % len(envelope_ids)])
                count += 1
            await asyncio.sleep(0.002)
        done.set()
        progress(f"4 operations: {count:,} commands sent, waiting for replies")
        await asyncio.wait_for(receiver, REPLY_WAIT_SECONDS)
        elapsed = time.monotonic() - started
        figures = client.figures(elapsed, service, cpu_before, machine)
    finally:
        await client.stop()
    # The offered rate is not a capacity, and at 50/s the CPU figures are mostly the service's
    # idle work (polls, health rounds) spread over few commands: case 4b has the CPU per command.
    for key in (
        "commands_per_s",
        "service_cpu_us_per_command",
        "service_cpu_busy_pct",
        "machine_cpu_us_per_command",
        "machine_cpu_busy_pct",
        "bench_client_cpu_us_per_command",
    ):
        del figures[key]
    return {"offered_per_s": rate, **figures}


async def operations_saturation(
    service: ServiceProcess,
    bootstrap: str,
    topics: BenchTopics,
    envelope_ids: list[uuid.UUID],
    window: int,
    seconds: float,
    progress: Progress,
    profile: Path | None = None,
    profile_seconds: float = 0.0,
    server_pids: ServerPids | None = None,
) -> dict[str, float]:
    """Case 4b: a closed loop of ``window`` outstanding ``get_event_by_id`` commands for ``seconds``.

    The rate is the replies received over the time from the first send to the last reply.
    With ``profile`` and ``profile_seconds``, py-spy samples the service meanwhile. With
    ``server_pids`` (local servers), the broker's and PostgreSQL's CPU per command too: with the
    service's, the client's and the machine's, where each command's CPU goes.
    """
    client = _Client(bootstrap, topics)
    await client.start()
    profiler = None
    try:
        done = asyncio.Event()
        receiver = asyncio.create_task(client.receive(done))
        cpu_before = process_cpu_seconds(service.pid)
        client.own_cpu_before = process_cpu_seconds(os.getpid())
        machine = MachineCpu()
        servers = ServerCpu(server_pids) if server_pids is not None else None
        started = time.monotonic()
        count = 0
        if profile is not None and profile_seconds > 0:
            profiler = profiling.start(service.pid, profile_seconds, profile)
        while time.monotonic() - started < seconds:
            while count - client.answered < window:
                await client.send(envelope_ids[count % len(envelope_ids)])
                count += 1
            async with client.replied:
                await asyncio.wait_for(client.replied.wait(), REPLY_WAIT_SECONDS)
        done.set()
        progress(f"4b operations at saturation: {count:,} commands sent, waiting for the last replies")
        await asyncio.wait_for(receiver, REPLY_WAIT_SECONDS)
        elapsed = time.monotonic() - started
        figures = client.figures(elapsed, service, cpu_before, machine, servers)
    finally:
        if profiler is not None:
            profiler.wait(timeout=profile_seconds + 60)
        await client.stop()
    return {"window": float(window), "seconds": elapsed, **figures}


__all__ = ["command_value", "operations", "operations_saturation"]
