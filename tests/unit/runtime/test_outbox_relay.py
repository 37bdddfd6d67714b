"""Pure parts of the outbox relay: one key's chain is sent in order and stops at the first failure."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

import pytest

from omnibase_infra.errors import OutageError
from omnibase_infra.infrastructure.outbox_spill import encode_headers
from omnibase_infra.runtime.outbox_relay import OutboxRelay

from .fakes import FakeGuard, FakePublisher, UntouchableDatabase, spin_until

if TYPE_CHECKING:
    import asyncpg

TOPIC = "onex.evt.orders.created.v1"


def row(row_id: int, key: bytes | None = b"order-1", headers: str | None = None) -> asyncpg.Record:
    data = {"id": row_id, "topic": TOPIC, "key": key, "payload": f"p{row_id}".encode(), "headers": headers}
    return cast("asyncpg.Record", data)


def relay(publisher: FakePublisher, publish_guard: FakeGuard | None = None) -> OutboxRelay:
    return OutboxRelay(
        UntouchableDatabase(),
        FakeGuard("postgres"),
        publisher,
        publish_guard or FakeGuard("kafka"),
        idle_interval_seconds=0,
    )


async def test_a_chain_is_published_in_order_with_its_headers() -> None:
    publisher = FakePublisher()
    chain = [
        row(1, headers=encode_headers([("traceparent", b"00-a"), ("x", b"\x00\xff")])),
        row(2, headers=encode_headers([])),
        row(3, headers=None),
    ]

    published, failed, outage = await relay(publisher)._publish_chain(chain)

    assert published == [1, 2, 3]
    assert (failed, outage) == ([], False)
    assert [r.value for r in publisher.sent] == [b"p1", b"p2", b"p3"]
    assert all(r.key == b"order-1" and r.topic == TOPIC for r in publisher.sent)
    assert [list(r.headers or ()) for r in publisher.sent] == [
        [("traceparent", b"00-a"), ("x", b"\x00\xff")],
        [],
        [],
    ]


async def test_an_outage_stops_the_chain_without_counting_a_failure() -> None:
    publisher = FakePublisher()
    publisher.failures = [None, OutageError("broker unavailable")]

    published, failed, outage = await relay(publisher)._publish_chain([row(1), row(2), row(3)])

    assert published == [1]
    assert failed == []
    assert outage
    assert publisher.attempts == 2, "row 3 must wait behind row 2"


async def test_an_open_breaker_stops_the_chain_as_an_outage() -> None:
    publisher = FakePublisher()

    published, failed, outage = await relay(publisher, FakeGuard("kafka", open=True))._publish_chain(
        [row(1), row(2)]
    )

    assert (published, failed, outage) == ([], [], True)
    assert publisher.sent == []


async def test_a_bad_row_is_a_failure_that_stops_the_rest_of_its_key() -> None:
    publisher = FakePublisher()
    publisher.failures.append(ValueError("record too large"))
    chain = [row(1), row(2)]

    published, failed, outage = await relay(publisher)._publish_chain(chain)

    assert published == []
    assert [(r["id"], error) for r, error in failed] == [(1, "ValueError: record too large")]
    assert not outage
    assert publisher.attempts == 1, "row 2 must wait behind row 1"


async def test_run_treats_a_database_outage_quietly_and_stops_when_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db_guard = FakeGuard("postgres", open=True)
    outbox = OutboxRelay(
        UntouchableDatabase(), db_guard, FakePublisher(), FakeGuard(), idle_interval_seconds=0
    )
    stopping = asyncio.Event()

    with caplog.at_level(logging.ERROR):
        task = asyncio.create_task(outbox.run(stopping))
        await spin_until(lambda: db_guard.refused >= 3)
        stopping.set()
        await asyncio.wait_for(task, timeout=1.0)

    assert caplog.records == []
    assert outbox.published_total == 0
