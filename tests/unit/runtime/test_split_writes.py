"""A large event-store batch split over ``postgres_pool.write_connections`` (event_store_writer).

The parts are written at once, each on its own connection in its own transaction; a failed
part fails the batch, and writing the batch again stores every row once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.models.model_consumed_record import ModelConsumedRecord
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import (
    ROWS_PER_WRITE_CONNECTION,
    merge_results,
    split_for_connections,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
    ModelEventStoreWriteRequest,
    ModelPostgresAdapterInput,
)
from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.records import (
    Partition,
    ProtocolConsumerRecord,
    SourceRecord,
    StoredEvent,
    WriteResult,
)

from .fakes import EventStoreConnection, FakeRecord, spin, spin_until
from .workflow_harness import STORE, WorkflowHarness, host_workflows

if TYPE_CHECKING:
    from .fakes import LentConnection


def rows(count: int) -> list[StoredEvent]:
    source = SourceRecord(STORE, 0, 0, None, None, ())
    return [StoredEvent(f"id-{n}", STORE, 0, n, None, None, "t", "{}", "{}", source) for n in range(count)]


@given(count=st.integers(0, 10 * ROWS_PER_WRITE_CONNECTION), connections=st.integers(1, 8))
@example(count=3 * ROWS_PER_WRITE_CONNECTION + 1, connections=3)
@example(count=4 * ROWS_PER_WRITE_CONNECTION + 1, connections=4)
def test_parts_are_contiguous_near_equal_and_never_below_the_minimum(count: int, connections: int) -> None:
    batch = rows(count)

    parts = split_for_connections(batch, connections)

    assert [row for part in parts for row in part] == batch
    assert 1 <= len(parts) <= connections
    if len(parts) > 1:
        assert min(len(p) for p in parts) >= ROWS_PER_WRITE_CONNECTION
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    else:
        assert parts[0] is batch
        assert connections == 1 or count < 2 * ROWS_PER_WRITE_CONNECTION


def test_merged_results_add_up_and_keep_the_rejected_rows_in_part_order() -> None:
    a, b = rows(2)
    poison = PoisonRecordError("store", "SQLSTATE 22P02", "bad")

    merged = merge_results([WriteResult(3, 1, ((a, poison),)), WriteResult(5, 0, ((b, poison),))])

    assert merged == WriteResult(8, 1, ((a, poison), (b, poison)))


class ConnectionLost(ConnectionResetError):
    """An outage of one part's connection (classified as an outage, like a reset socket)."""


class NotAnOutage(RuntimeError):
    """A failure the breaker does not count (a bug, say)."""


@dataclass
class Stats:
    checked_in: int


class SharedEventStore:
    """Lends a new ``EventStoreConnection`` per acquisition, all over one table.

    Every COPY waits until ``expected_at_once`` connections are lent at the same time (a
    write that ran its parts one after another would fail here); the COPY of connection
    number N raises ``failures[N]`` once; while ``hold`` is set, the COPYs that do not fail
    wait for it. ``idle`` is what the pool reports idle.
    """

    def __init__(
        self, expected_at_once: int, failures: dict[int, BaseException] | None = None, idle: int = 8
    ) -> None:
        self.stored: dict[object, tuple[object, ...]] = {}
        self.expected_at_once = expected_at_once
        self.failures = dict(failures or {})
        self.idle = idle
        self.hold: asyncio.Event | None = None
        self.failed = 0
        self.lent = 0
        self.held = 0
        self.most_held = 0

    def get_connection_stats(self) -> Stats:
        return Stats(checked_in=self.idle)

    @asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[LentConnection]:
        self.lent += 1
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        try:
            yield cast("LentConnection", _PartConnection(self, self.lent))
        finally:
            self.held -= 1


class _PartConnection(EventStoreConnection):
    def __init__(self, store: SharedEventStore, number: int) -> None:
        super().__init__()
        self.stored = store.stored
        self._store = store
        self._number = number

    async def copy_to_table(
        self,
        table: str,
        *,
        source: AsyncIterable[bytes],
        columns: Sequence[str],
        schema_name: str | None = None,
    ) -> str:
        store = self._store
        await spin_until(lambda: store.most_held >= store.expected_at_once)
        failure = store.failures.pop(self._number, None)
        if failure is not None:
            store.failed += 1
            raise failure
        if store.hold is not None:
            await store.hold.wait()
        return await super().copy_to_table(table, source=source, columns=columns, schema_name=schema_name)


def events(count: int) -> dict[Partition, list[ProtocolConsumerRecord]]:
    records: list[ProtocolConsumerRecord] = [
        FakeRecord(STORE, 0, n, None, encode_envelope(ModelEventEnvelope[JsonValue](payload={"n": n})), ())
        for n in range(count)
    ]
    return {Partition(STORE, 0): records}


async def hosted(store: SharedEventStore, write_connections: int) -> WorkflowHarness:
    harness = await host_workflows(database=store)
    harness.nodes.postgres_adapter.resources.write_connections = write_connections
    return harness


async def test_a_large_batch_is_written_in_parts_on_separate_connections_at_once() -> None:
    store = SharedEventStore(expected_at_once=2)
    harness = await hosted(store, write_connections=2)

    await harness.gateway.handle(events(2 * ROWS_PER_WRITE_CONNECTION + 200))

    assert (store.lent, store.most_held) == (2, 2)
    assert len(store.stored) == 2 * ROWS_PER_WRITE_CONNECTION + 200
    assert harness.stats.stored == 2 * ROWS_PER_WRITE_CONNECTION + 200


async def test_a_batch_too_small_to_split_stays_on_one_connection() -> None:
    store = SharedEventStore(expected_at_once=1)
    harness = await hosted(store, write_connections=2)

    await harness.gateway.handle(events(2 * ROWS_PER_WRITE_CONNECTION - 1))

    assert store.lent == 1
    assert len(store.stored) == 2 * ROWS_PER_WRITE_CONNECTION - 1


async def test_one_connection_writes_the_whole_batch_when_the_contract_says_one() -> None:
    store = SharedEventStore(expected_at_once=1)
    harness = await hosted(store, write_connections=1)

    await harness.gateway.handle(events(4 * ROWS_PER_WRITE_CONNECTION))

    assert store.lent == 1
    assert len(store.stored) == 4 * ROWS_PER_WRITE_CONNECTION


@pytest.mark.parametrize(("idle", "parts"), [(0, 1), (1, 1), (2, 2), (5, 3)])
async def test_a_batch_is_split_only_over_connections_idle_in_the_pool(idle: int, parts: int) -> None:
    """A busy pool gives fewer parts, never a wait for a connection (which could time out)."""
    store = SharedEventStore(expected_at_once=parts, idle=idle)
    harness = await hosted(store, write_connections=3)

    await harness.gateway.handle(events(4 * ROWS_PER_WRITE_CONNECTION))

    assert (store.lent, store.most_held) == (parts, parts)
    assert len(store.stored) == 4 * ROWS_PER_WRITE_CONNECTION


async def test_a_failed_part_fails_the_batch_only_once_every_part_ended_and_nothing_is_committed() -> None:
    count = 2 * ROWS_PER_WRITE_CONNECTION
    store = SharedEventStore(expected_at_once=2, failures={2: ConnectionLost("connection reset by peer")})
    store.hold = asyncio.Event()
    harness = await hosted(store, write_connections=2)
    batch = events(count)

    handled = asyncio.create_task(harness.gateway.handle(batch))
    await spin_until(lambda: store.failed == 1)
    await spin(50)
    assert not handled.done(), "the batch waits for its other part"
    assert store.held == 1
    store.hold.set()
    with pytest.raises(Exception) as failed:
        await handled
    assert is_outage(failed.value)
    assert len(store.stored) == ROWS_PER_WRITE_CONNECTION, "the other part ran to its end"
    assert store.held == 0
    assert harness.consumer.commits == [] and harness.stats.stored == 0

    store.hold = None
    await harness.gateway.handle(batch)

    assert len(store.stored) == count
    assert harness.stats.stored == ROWS_PER_WRITE_CONNECTION
    assert harness.stats.duplicates == ROWS_PER_WRITE_CONNECTION
    assert harness.consumer.commits != []


async def test_an_outage_in_any_part_is_the_batchs_failure_and_the_other_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SharedEventStore(
        expected_at_once=2, failures={1: NotAnOutage("a bug"), 2: ConnectionLost("connection reset")}
    )
    harness = await hosted(store, write_connections=2)

    with pytest.raises(Exception) as failed:
        await harness.gateway.handle(events(2 * ROWS_PER_WRITE_CONNECTION))

    assert is_outage(failed.value), "the breaker must count the outage"
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("another part of the batch also failed" in m and "NotAnOutage" in m for m in logged)
    assert not any("a bug" in m for m in logged), "class and SQLSTATE only, never the message"


async def test_a_cancelled_batch_gives_back_every_connection_and_commits_nothing() -> None:
    store = SharedEventStore(expected_at_once=2)
    store.hold = asyncio.Event()
    harness = await hosted(store, write_connections=2)

    handled = asyncio.create_task(harness.gateway.handle(events(2 * ROWS_PER_WRITE_CONNECTION)))
    await spin_until(lambda: store.held == 2)
    await spin(10)
    handled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handled

    assert store.held == 0
    assert store.stored == {} and harness.consumer.commits == []


async def test_a_typed_write_whose_envelope_ids_repeat_is_not_split() -> None:
    """Two parts holding the same key would wait on each other's transaction."""
    store = SharedEventStore(expected_at_once=1)
    harness = await hosted(store, write_connections=2)
    ids = [uuid.uuid4() for _ in range(ROWS_PER_WRITE_CONNECTION)]
    records = tuple(
        ModelConsumedRecord(
            topic=STORE, partition=0, offset=n, envelope_id=ids[n % len(ids)], payload={"n": n}
        )
        for n in range(2 * ROWS_PER_WRITE_CONNECTION)
    )

    await harness.postgres.execute(
        ModelPostgresAdapterInput(request=ModelEventStoreWriteRequest(records=records))
    )

    assert store.lent == 1
    assert len(store.stored) == ROWS_PER_WRITE_CONNECTION
