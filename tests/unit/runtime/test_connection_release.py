"""``PostgresResources.release_later``: connections given back in the background, waited for by ``stop``."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import pytest

from omnibase_infra.nodes.postgres_adapter.v1_0_0.resources import PostgresResources


def resources() -> PostgresResources:
    # Only the background releases are exercised: the pool, breaker, catalog and executor are unused.
    unused = cast("object", None)
    return PostgresResources(unused, unused, unused, unused)  # type: ignore[arg-type]  # unused parts


async def test_settling_waits_for_a_release_and_a_cancelled_wait_leaves_it_running() -> None:
    held = resources()
    may_finish = asyncio.Event()
    released: list[str] = []

    async def release() -> None:
        await may_finish.wait()
        released.append("back")

    held.release_later(release())
    waiter = asyncio.ensure_future(held.settle_releases())
    await asyncio.sleep(0.01)
    assert not waiter.done(), "settling waits while a connection is still going back"
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert len(held.releasing) == 1, "cancelling the wait did not cancel the release"

    may_finish.set()
    await asyncio.wait_for(held.settle_releases(), 5)
    assert released == ["back"]
    assert not held.releasing


async def test_a_release_that_fails_is_logged_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    held = resources()

    async def release() -> None:
        raise ConnectionResetError("the server went away")

    with caplog.at_level(logging.WARNING):
        held.release_later(release())
        await asyncio.wait_for(held.settle_releases(), 5)

    assert not held.releasing
    assert "giving a connection back to the pool failed: ConnectionResetError" in caplog.text
