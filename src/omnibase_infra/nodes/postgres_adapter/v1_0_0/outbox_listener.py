"""The outbox relay's wake-up: ``LISTEN onex_outbox`` on a connection of its own, polling as the fallback.

Migration 003 makes every statement that inserts into ``onex_outbox`` notify channel
``onex_outbox`` (payload: the table's schema) at its commit. ``OutboxListener.run``
holds one pooled connection listening on that channel; a notification for this
service's schema sets ``wake``, which the relay's repeat trigger waits on next to its
poll interval (``workflow_runtime.outbox_idle_interval_ms``), whichever comes first. So
an idle relay sends nothing to PostgreSQL between its polls and still publishes a new
row within milliseconds.

The listening connection is probed (``SELECT 1``, bounded by the probe interval) every
``probe_seconds``; when it is lost (the server gone, a probe failing or hanging, the
pool unable to lend one) the listener logs a warning once, ``listening`` turns false
(the ``omnibase_outbox_listening`` gauge), and the relay keeps polling as before: nothing
is missed, rows only wait up to one poll interval. The loss of this one connection is
not a PostgreSQL outage: it is handled inside the borrowed connection's block, so the
pool is not expired for it. It retries every ``retry_seconds``; once it listens again it
logs so, and sets ``wake`` (rows inserted meanwhile are looked for at once).

When the pool expires its connections (renewed credentials, an outage noticed elsewhere:
the connection manager's ``generation``), the listener gives its connection back at the
next probe and listens again at once on a fresh one, so no session logged in with old
credentials outlives a rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import asyncpg

    from omnibase_infra.workflow.protocols import ProtocolConnectionSource

logger = logging.getLogger(__name__)

CHANNEL = "onex_outbox"


class OutboxListener:
    """``wake`` is set when a row is inserted into this schema's ``onex_outbox``; see the module docstring."""

    def __init__(
        self,
        database: ProtocolConnectionSource,
        schema: str,
        *,
        poll_seconds: float,
        retry_seconds: float,
        probe_seconds: float,
        generation: Callable[[], int] = lambda: 0,
    ) -> None:
        self._database = database
        self._generation = generation
        self._poll = poll_seconds
        self._schema = schema
        self._retry = retry_seconds
        self._probe = probe_seconds
        self.wake = asyncio.Event()
        self.listening = False
        self.losses = 0
        self._warned = False

    def _on_notification(self, connection: object, pid: int, channel: str, payload: object) -> None:
        if payload == self._schema:
            self.wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Listen until ``stopping``; reconnect after a loss. Never raises (a task of the host)."""
        while not stopping.is_set():
            try:
                await self._listen(stopping)
                continue  # the pool was renewed: listen again at once on a fresh connection
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(f"{type(exc).__name__}: {exc}")
            if stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._retry)
        self.listening = False

    async def _listen(self, stopping: asyncio.Event) -> None:
        """One listening session: returns on ``stopping`` or a renewed pool, raises when lost."""
        lost: Exception | None = None
        generation = self._generation()
        async with self._database.acquire_connection() as conn:
            connection: asyncpg.Connection = conn  # type: ignore[assignment]  # the pool lends asyncpg connections
            closed = asyncio.Event()

            def on_close(_: object) -> None:
                closed.set()

            connection.add_termination_listener(on_close)
            try:
                await connection.add_listener(CHANNEL, self._on_notification)
                if self._warned:
                    logger.info("outbox notifications restored: the relay wakes on new rows again")
                    self._warned = False
                self.listening = True
                self.wake.set()  # rows inserted while nobody listened are looked for now
                while not stopping.is_set() and self._generation() == generation:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_first(stopping, closed), self._probe)
                    if closed.is_set():
                        raise ConnectionError("the listening connection was closed")
                    if not stopping.is_set():
                        await asyncio.wait_for(connection.execute("SELECT 1"), self._probe)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # this connection's loss, not an outage of the pool
                lost = exc
            finally:
                self.listening = False
                connection.remove_termination_listener(on_close)
                if not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.remove_listener(CHANNEL, self._on_notification)
        if lost is not None:
            raise lost

    def _lost(self, reason: str) -> None:
        """Note a loss: a warning on the first one since the last time it listened."""
        self.listening = False
        self.losses += 1
        if self._warned:
            logger.debug("outbox notifications still unavailable (%s)", reason)
            return
        self._warned = True
        logger.warning(
            "outbox notifications lost (%s); the relay polls every %.1f s and retries listening every %.1f s",
            reason,
            self._poll,
            self._retry,
        )


async def _first(*events: asyncio.Event) -> None:
    """Return when any of ``events`` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


__all__ = ["CHANNEL", "OutboxListener"]
