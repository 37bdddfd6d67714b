"""The service's long-running tasks, and the exit code they leave behind.

``ServiceTasks`` starts the tasks that run for the life of ``onex-infra run``
(the consumer loop, the outbox relay, the health loop, the credential refresh)
and watches them:

- a task that raises, or returns while the service was not asked to stop, is a
  crash: it is logged once at ERROR with the task's name and its exception, the
  first one is kept in ``crash``, and ``on_crash`` is called (the service then
  shuts the rest down in order);
- ``exit_code`` is ``EXIT_FAILED`` (1) once any task crashed, before or
  during the shutdown, else ``EXIT_STOPPED`` (0). A task cancelled because it
  outlived the grace period is not a crash: what it held is left uncommitted
  and delivered again;
- ``wait(name, grace)`` and ``wait_rest(grace)`` let tasks finish on their own
  within ``grace`` seconds and cancel them after it; neither raises;
- ``detach(name)`` hands a task back unwatched, for an intended stop (e.g. the
  consumer loop rebuilt with new credentials), after which ``start(name, ...)``
  may run its successor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

logger = logging.getLogger("omnibase_infra.runtime")

EXIT_STOPPED = 0
"""SIGTERM or SIGINT (or a stop during startup): everything stopped in order."""
EXIT_FAILED = 1
"""One of the service's tasks crashed (the rest were stopped in order), or a server stayed
unreachable for ``ONEX_STARTUP_TIMEOUT``."""
EXIT_CONFIGURATION_ERROR = 3
"""A variable, contract or schema is wrong: the service refused to start."""


@dataclass(frozen=True)
class TaskCrash:
    """The first task that crashed: its name and what it raised (``None``: it returned early)."""

    task: str
    error: BaseException | None

    def describe(self) -> str:
        if self.error is None:
            return f"task {self.task} returned while the service was running"
        return f"task {self.task} crashed: {type(self.error).__name__}: {self.error}"


class ServiceTasks:
    """Starts and supervises the service's tasks; see the module docstring."""

    def __init__(self, *, stopping: Callable[[], bool], on_crash: Callable[[], None]) -> None:
        self._stopping = stopping
        self._on_crash = on_crash
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.crash: TaskCrash | None = None

    @property
    def names(self) -> list[str]:
        return list(self._tasks)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.crash is not None else EXIT_STOPPED

    def start(self, name: str, work: Coroutine[object, object, None]) -> None:
        """Run ``work`` as the task ``name`` (names are unique)."""
        if name in self._tasks:
            work.close()
            raise ValueError(f"a task named {name!r} is already running")
        task = asyncio.create_task(work, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._on_done)

    def detach(self, name: str) -> asyncio.Task[None] | None:
        """Stop watching task ``name`` (e.g. to replace it): its end is then no crash; return it."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.remove_done_callback(self._on_done)
        return task

    async def wait(self, name: str, grace: float) -> None:
        """Let task ``name`` finish within ``grace`` seconds, then cancel it."""
        task = self._tasks.get(name)
        if task is not None:
            await self._finish(task, grace)

    async def wait_rest(self, grace: float) -> None:
        """Let every task finish within ``grace`` seconds each, then cancel what is left."""
        for task in list(self._tasks.values()):
            await self._finish(task, grace)

    async def _finish(self, task: asyncio.Task[None], grace: float) -> None:
        if not task.done():
            done, _ = await asyncio.wait({task}, timeout=grace)
            if not done:
                logger.warning("task %s did not finish within %.0f s; cancelling it", task.get_name(), grace)
                task.cancel()
                await asyncio.wait({task})

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is None and self._stopping():
            return
        crash = TaskCrash(task.get_name(), error)
        logger.error("%s; shutting down", crash.describe(), exc_info=error)
        if self.crash is None:
            self.crash = crash
        self._on_crash()


__all__ = [
    "EXIT_CONFIGURATION_ERROR",
    "EXIT_FAILED",
    "EXIT_STOPPED",
    "ServiceTasks",
    "TaskCrash",
]
