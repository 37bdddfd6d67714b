"""ServiceTasks: a crashed task is named, stops the rest, and turns the exit code to 1."""

from __future__ import annotations

import asyncio
import logging

import pytest

from omnibase_infra.runtime.service_tasks import EXIT_FAILED, EXIT_STOPPED, ServiceTasks


class Supervised:
    """ServiceTasks with a stop flag that ``on_crash`` sets, as the service's ``request_stop`` does."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.stops_requested = 0
        self.tasks = ServiceTasks(stopping=self.stop.is_set, on_crash=self.request_stop)

    def request_stop(self) -> None:
        self.stops_requested += 1
        self.stop.set()

    async def until_stopped(self) -> None:
        """A well-behaved task: runs until the service stops."""
        await self.stop.wait()


async def crash_with(error: BaseException) -> None:
    await asyncio.sleep(0)
    raise error


async def test_a_crashed_task_is_named_in_the_log_stops_the_service_and_exits_1(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Supervised()
    s.tasks.start("consumer-loop", s.until_stopped())
    s.tasks.start("outbox-relay", crash_with(RuntimeError("relay state is corrupt")))

    with caplog.at_level(logging.ERROR, logger="omnibase_infra.runtime"):
        await asyncio.wait_for(s.stop.wait(), 5)
        await s.tasks.wait_rest(grace=5)

    assert s.stops_requested == 1
    assert s.tasks.crash is not None
    assert s.tasks.crash.task == "outbox-relay"
    assert isinstance(s.tasks.crash.error, RuntimeError)
    assert s.tasks.exit_code == EXIT_FAILED == 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "outbox-relay" in record.getMessage()
    assert "RuntimeError: relay state is corrupt" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is s.tasks.crash.error


async def test_tasks_that_finish_after_a_stop_leave_exit_code_0() -> None:
    s = Supervised()
    s.tasks.start("consumer-loop", s.until_stopped())
    s.tasks.start("health-loop", s.until_stopped())

    s.stop.set()  # SIGTERM
    await s.tasks.wait_rest(grace=5)

    assert s.tasks.crash is None
    assert s.tasks.exit_code == EXIT_STOPPED == 0
    assert s.stops_requested == 0


async def test_a_task_that_returns_while_the_service_runs_counts_as_a_crash() -> None:
    s = Supervised()

    async def returns_early() -> None:
        await asyncio.sleep(0)

    s.tasks.start("health-loop", returns_early())
    await asyncio.wait_for(s.stop.wait(), 5)

    assert s.tasks.crash is not None
    assert (s.tasks.crash.task, s.tasks.crash.error) == ("health-loop", None)
    assert "returned while the service was running" in s.tasks.crash.describe()
    assert s.tasks.exit_code == EXIT_FAILED


async def test_a_task_crashing_during_the_shutdown_still_exits_1() -> None:
    s = Supervised()

    async def fails_while_finishing() -> None:
        await s.stop.wait()
        raise ConnectionResetError("commit failed while finishing the batch")

    s.tasks.start("consumer-loop", fails_while_finishing())
    s.stop.set()
    await s.tasks.wait("consumer-loop", grace=5)

    assert s.tasks.crash is not None and s.tasks.crash.task == "consumer-loop"
    assert s.tasks.exit_code == EXIT_FAILED


async def test_a_task_past_the_grace_period_is_cancelled_and_is_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Supervised()
    never = asyncio.Event()
    cancelled = asyncio.Event()

    async def ignores_the_stop() -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    s.tasks.start("consumer-loop", ignores_the_stop())
    s.stop.set()
    with caplog.at_level(logging.WARNING, logger="omnibase_infra.runtime"):
        await s.tasks.wait("consumer-loop", grace=0)

    assert cancelled.is_set()
    assert s.tasks.crash is None
    assert s.tasks.exit_code == EXIT_STOPPED
    assert any("consumer-loop did not finish" in r.getMessage() for r in caplog.records)


async def test_the_first_crash_is_the_one_reported() -> None:
    s = Supervised()
    release = asyncio.Event()

    async def crash_after_release() -> None:
        await release.wait()
        raise ValueError("second")

    s.tasks.start("health-loop", crash_after_release())
    s.tasks.start("outbox-relay", crash_with(KeyError("first")))
    await asyncio.wait_for(s.stop.wait(), 5)
    release.set()
    await s.tasks.wait_rest(grace=5)

    assert s.tasks.crash is not None and s.tasks.crash.task == "outbox-relay"
    assert s.stops_requested == 2
    assert s.tasks.exit_code == EXIT_FAILED


async def test_task_names_are_unique() -> None:
    s = Supervised()
    s.tasks.start("health-loop", s.until_stopped())
    duplicate = s.until_stopped()

    with pytest.raises(ValueError, match="health-loop"):
        s.tasks.start("health-loop", duplicate)

    assert s.tasks.names == ["health-loop"]
    s.stop.set()
    await s.tasks.wait_rest(grace=5)


async def test_a_detached_task_may_stop_without_it_being_a_crash_and_its_successor_is_watched() -> None:
    s = Supervised()
    old_stop = asyncio.Event()

    async def old_loop() -> None:
        await old_stop.wait()

    s.tasks.start("consumer-loop", old_loop())
    detached = s.tasks.detach("consumer-loop")
    assert detached is not None and s.tasks.names == []
    old_stop.set()  # an intended stop while the service runs
    await detached
    assert s.tasks.crash is None and s.stops_requested == 0

    s.tasks.start("consumer-loop", crash_with(RuntimeError("rebuilt loop failed")))
    await asyncio.wait_for(s.stop.wait(), 5)
    assert s.tasks.crash is not None and s.tasks.crash.task == "consumer-loop"
    assert s.tasks.exit_code == EXIT_FAILED
    assert s.tasks.detach("no-such-task") is None
