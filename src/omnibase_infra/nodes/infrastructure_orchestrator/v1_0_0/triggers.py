"""Runs the workflows the clock starts: ``repeat`` (back to back while there is work) and ``interval``.

``run_repeating``: each run starts from a ``Tick``; when the payload the last step
returned says ``more`` it runs again at once, else it waits ``idle_seconds`` or until
``wake`` is set, whichever comes first (the outbox relay's ``wake`` is set by a
``LISTEN`` notification of a new row: postgres_adapter's ``outbox_listener``). ``wake``
is cleared before each run, so a wake-up during a run (its rows maybe not claimed)
starts one more run at once. A run that raises waits ``idle_seconds`` too (a wake-up
does not cut that wait short: an outage is not retried faster because rows arrive); an
outage is expected (the breaker and the health report say so), any other error is
logged with its stack. A payload holding resources
(a claimed outbox round's transaction) is closed by ``run_steps`` when a step raises.

``run_every``: one run per
``every_seconds``; a failed run is logged and the next one comes on time.
Both return when ``stopping`` is set.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.workflow.payloads import Tick

logger = logging.getLogger(__name__)


async def _wait(stopping: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Return after ``seconds``, or once ``stopping`` (or ``wake``) is set."""
    events = [stopping] if wake is None else [stopping, wake]
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def run_repeating(
    runner: Any,
    name: str,
    stopping: asyncio.Event,
    *,
    idle_seconds: float,
    clock: Clock = SYSTEM_CLOCK,
    wake: asyncio.Event | None = None,
) -> None:
    """Run workflow ``name`` again and again (see the module docstring)."""
    while not stopping.is_set():
        if wake is not None:
            wake.clear()
        try:
            payload = await runner.run(name, Tick(clock.now()))
        except Exception as exc:
            if not is_outage(exc):
                logger.error("workflow %s failed", name, exc_info=exc)
            await _wait(stopping, idle_seconds)
            continue
        if not getattr(payload, "more", False):
            await _wait(stopping, idle_seconds, wake)


async def run_every(
    runner: Any, name: str, stopping: asyncio.Event, *, every_seconds: float, clock: Clock = SYSTEM_CLOCK
) -> None:
    """Run workflow ``name`` once per ``every_seconds`` until ``stopping``."""
    while not stopping.is_set():
        await _wait(stopping, every_seconds)
        if stopping.is_set():
            return
        try:
            await runner.run(name, Tick(clock.now()))
        except Exception as exc:
            logger.warning("workflow %s failed: %s", name, type(exc).__name__)


__all__ = ["run_every", "run_repeating"]
