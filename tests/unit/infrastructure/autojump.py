"""An event loop whose time is a ``FakeClock`` that jumps forward whenever the loop would wait.

``asyncio.timeout``, ``asyncio.sleep`` and ``loop.call_later`` run unchanged, but
no real time passes: when nothing is ready, the selector advances the fake clock
to the next timer instead of blocking (like trio's autojump clock). The breaker
and the loop share the clock, so "a probe hangs for 30 s" costs microseconds.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any

from omnibase_infra.clock import FakeClock


class _AutoJumpSelector(selectors.DefaultSelector):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            # Only another thread can wake the loop now; give it real time, then call it a deadlock.
            ready = super().select(5.0)
            if not ready:
                raise RuntimeError("deadlock: the loop would wait forever with no timer scheduled")
            return ready
        self._clock.advance(timeout)
        return ready


class AutoJumpEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop reading time from ``clock``."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(selector=_AutoJumpSelector(clock))
        self._fake_clock = clock

    def time(self) -> float:
        return self._fake_clock.monotonic()


def run_autojump[T](coroutine: Coroutine[Any, Any, T], clock: FakeClock) -> T:
    """Run ``coroutine`` to completion on a fresh ``AutoJumpEventLoop``."""
    with asyncio.Runner(loop_factory=lambda: AutoJumpEventLoop(clock)) as runner:
        return runner.run(coroutine)
