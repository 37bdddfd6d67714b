"""The outbox relay's wake-up: LISTEN on a connection of its own, polling as the fallback.

``OutboxListener`` on a fake connection source; ``run_repeating`` (the orchestrator's
repeat trigger) with its ``wake`` event. No timing is asserted: every wait is for a
condition, bounded only so that a broken build fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from omnibase_infra.errors import OutageError
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.triggers import run_repeating
from omnibase_infra.nodes.postgres_adapter.v1_0_0.outbox_listener import CHANNEL, OutboxListener
from omnibase_infra.workflow.payloads import Tick

SCHEMA = "onex"
LONG = 3600.0  # a poll interval no test may wait out


class FakeListenConnection:
    """What the listener uses of an asyncpg connection; ``close()`` drops it like a dead server."""

    def __init__(self) -> None:
        self.listeners: dict[str, Callable[[object, int, str, object], None]] = {}
        self.on_close: list[Callable[[object], None]] = []
        self.closed = False
        self.probes = 0

    async def add_listener(self, channel: str, callback: Callable[[object, int, str, object], None]) -> None:
        self.listeners[channel] = callback

    async def remove_listener(self, channel: str, callback: object) -> None:
        self.listeners.pop(channel, None)

    def add_termination_listener(self, callback: Callable[[object], None]) -> None:
        self.on_close.append(callback)

    def remove_termination_listener(self, callback: Callable[[object], None]) -> None:
        self.on_close.remove(callback)

    def is_closed(self) -> bool:
        return self.closed

    async def execute(self, sql: str) -> str:
        self.probes += 1
        return "SELECT 1"

    def notify(self, payload: str) -> None:
        self.listeners[CHANNEL](self, 1, CHANNEL, payload)

    def close(self) -> None:
        self.closed = True
        for callback in list(self.on_close):
            callback(self)


class FakeSource:
    """Lends a new ``FakeListenConnection`` each time, or raises ``refuse`` while it is set."""

    def __init__(self) -> None:
        self.lent: list[FakeListenConnection] = []
        self.refuse: Exception | None = None
        self.returned = 0
        self.raised_inside: list[BaseException] = []  # what the connection manager would translate

    @contextlib.asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[FakeListenConnection]:
        if self.refuse is not None:
            raise self.refuse
        conn = FakeListenConnection()
        self.lent.append(conn)
        try:
            yield conn
        except BaseException as exc:
            self.raised_inside.append(exc)
            raise
        finally:
            self.returned += 1


async def until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout=10)


def listener(source: FakeSource) -> OutboxListener:
    return OutboxListener(
        source,  # type: ignore[arg-type]  # the fake lends what the listener uses of a connection
        SCHEMA,
        poll_seconds=0.5,
        retry_seconds=0.001,
        probe_seconds=LONG,
    )


async def test_a_notification_of_its_own_schema_wakes_the_relay_and_no_other() -> None:
    source = FakeSource()
    outbox = listener(source)
    stopping = asyncio.Event()
    task = asyncio.create_task(outbox.run(stopping))
    await until(lambda: outbox.listening)
    outbox.wake.clear()  # the wake-up every (re)start gives

    source.lent[0].notify("another_schema")
    await asyncio.sleep(0)
    assert not outbox.wake.is_set(), "another schema's rows are another service's"
    source.lent[0].notify(SCHEMA)
    assert outbox.wake.is_set()

    stopping.set()
    await asyncio.wait_for(task, 10)
    assert not outbox.listening
    assert source.returned == 1, "the listening connection goes back to the pool"


async def test_a_lost_connection_falls_back_to_polling_says_so_once_and_listens_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource()
    outbox = listener(source)
    stopping = asyncio.Event()
    caplog.set_level(logging.INFO, logger="omnibase_infra.nodes.postgres_adapter.v1_0_0.outbox_listener")
    task = asyncio.create_task(outbox.run(stopping))
    await until(lambda: outbox.listening)

    source.refuse = OutageError("PostgreSQL unavailable")
    source.lent[0].close()
    await until(lambda: outbox.losses >= 3)
    assert not outbox.listening, "the relay only polls now (the omnibase_outbox_listening gauge reads 0)"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "outbox notifications lost" in warnings[0] and "polls every 0.5 s" in warnings[0]

    outbox.wake.clear()
    source.refuse = None
    await until(lambda: outbox.listening)
    assert outbox.wake.is_set(), "rows inserted while nobody listened are looked for at once"
    assert any("outbox notifications restored" in r.getMessage() for r in caplog.records)

    stopping.set()
    await asyncio.wait_for(task, 10)


async def test_a_lost_connection_is_not_an_outage_of_the_pool_and_leaves_no_listener_behind() -> None:
    source = FakeSource()
    outbox = listener(source)
    stopping = asyncio.Event()
    task = asyncio.create_task(outbox.run(stopping))
    await until(lambda: outbox.listening)

    source.lent[0].close()
    await until(lambda: len(source.lent) == 2 and outbox.listening)
    assert outbox.losses == 1
    assert source.raised_inside == [], "the loss is handled inside the block: the pool is not expired for it"
    assert source.lent[0].on_close == [], "the termination callback goes with the session"

    stopping.set()
    await asyncio.wait_for(task, 10)


async def test_a_renewed_pool_makes_it_listen_again_on_a_fresh_connection_without_a_loss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, generation = FakeSource(), [0]
    outbox = OutboxListener(
        source,  # type: ignore[arg-type]  # the fake lends what the listener uses of a connection
        SCHEMA,
        poll_seconds=0.5,
        retry_seconds=LONG,  # a loss would stall the test: only a renewal may re-listen
        probe_seconds=0.001,
        generation=lambda: generation[0],
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(outbox.run(stopping))
    await until(lambda: outbox.listening)

    generation[0] += 1  # credentials renewed: every pooled connection expired
    await until(lambda: len(source.lent) == 2 and outbox.listening)
    assert source.returned == 1, "the old session went back to the pool (which closes it)"
    assert outbox.losses == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    stopping.set()
    await asyncio.wait_for(task, 10)


async def test_a_hanging_probe_counts_as_a_lost_connection() -> None:
    source = FakeSource()
    outbox = OutboxListener(
        source,  # type: ignore[arg-type]  # the fake lends what the listener uses of a connection
        SCHEMA,
        poll_seconds=0.5,
        retry_seconds=LONG,
        probe_seconds=0.001,
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(outbox.run(stopping))
    await until(lambda: source.lent and source.lent[0].probes > 0)

    async def frozen(sql: str) -> str:
        await asyncio.sleep(LONG)
        return ""

    source.lent[0].execute = frozen  # type: ignore[method-assign]  # a server that stopped answering
    await until(lambda: outbox.losses == 1)
    assert not outbox.listening

    stopping.set()
    await asyncio.wait_for(task, 10)


class Relay:
    """The orchestrator as ``run_repeating`` sees it: each run reports no more work."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.runs = 0
        self.fail = fail
        self.during_run: Callable[[], None] | None = None

    async def run(self, name: str, tick: Tick) -> object:
        self.runs += 1
        if self.during_run is not None:
            self.during_run()
            self.during_run = None
        if self.fail is not None:
            raise self.fail
        return None  # no ``more``: the loop idles


async def test_the_repeat_trigger_runs_at_once_when_woken_instead_of_waiting_its_poll_interval() -> None:
    relay, stopping, wake = Relay(), asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_repeating(relay, "outbox_relay", stopping, idle_seconds=LONG, wake=wake))
    await until(lambda: relay.runs == 1)

    wake.set()
    await until(lambda: relay.runs == 2)
    assert not wake.is_set(), "cleared before the run it started"

    relay.during_run = wake.set  # a row committed while a run was claiming
    wake.set()
    await until(lambda: relay.runs == 4)

    stopping.set()
    await asyncio.wait_for(task, 10)


async def test_without_a_wake_up_the_repeat_trigger_polls() -> None:
    relay, stopping = Relay(), asyncio.Event()
    task = asyncio.create_task(run_repeating(relay, "outbox_relay", stopping, idle_seconds=0.001))

    await until(lambda: relay.runs >= 3)

    stopping.set()
    await asyncio.wait_for(task, 10)
