"""A large event-store batch split over ``postgres_pool.write_connections`` (event_store_writer).

The parts are written at once, each on its own connection in its own transaction; a failed
part fails the batch, and writing the batch again stores every row once.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, cast

from hypothesis import given
from hypothesis import strategies as st
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import (
    ROWS_PER_WRITE_CONNECTION,
    merge_results,
    split_for_connections,
)
from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.records import (
    Partition,
    ProtocolConsumerRecord,
    SourceRecord,
    StoredEvent,
    WriteResult,
)

from .fakes import EventStoreConnection, FakeRecord, spin_until
from .workflow_harness import STORE, WorkflowHarness, host_workflows

if TYPE_CHECKING:
    from .fakes import LentConnection


def rows(count: int) -> list[StoredEvent]:
    source = SourceRecord(STORE, 0, 0, None, None, ())
    return [StoredEvent(f"id-{n}", STORE, 0, n, None, None, "t", "{}", "{}", source) for n in range(count)]


@given(count=st.integers(0, 5 * ROWS_PER_WRITE_CONNECTION), connections=st.integers(1, 8))
def test_parts_are_contiguous_near_equal_and_never_below_the_minimum(count: int, connections: int) -> None:
    batch = rows(count)

    parts = split_for_connections(batch, connections)

    assert [row for part in parts for row in part] == batch
    assert 1 <= len(parts) <= connections
    if len(parts) > 1:
        assert min(len(p) for p in parts) >= ROWS_PER_WRITE_CONNECTION
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= len(parts)
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


class SharedEventStore:
    """Lends a new ``EventStoreConnection`` per acquisition, all over one table.

    Every COPY waits until ``expected_at_once`` connections are lent at the same time (a
    write that ran its parts one after another would fail here), and the COPY of the
    connection numbered ``fail_connection`` fails once.
    """

    def __init__(self, expected_at_once: int, fail_connection: int | None = None) -> None:
        self.stored: dict[object, tuple[object, ...]] = {}
        self.expected_at_once = expected_at_once
        self.fail_connection = fail_connection
        self.lent = 0
        self.held = 0
        self.most_held = 0

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
        if self._number == store.fail_connection:
            store.fail_connection = None
            raise ConnectionLost("connection reset by peer")
        return await super().copy_to_table(table, source=source, columns=columns, schema_name=schema_name)


def events(count: int) -> dict[Partition, list[ProtocolConsumerRecord]]:
    records: list[ProtocolConsumerRecord] = [
        FakeRecord(STORE, 0, n, None, encode_envelope(ModelEventEnvelope[JsonValue](payload={"n": n})), ())
        for n in range(count)
    ]
    return {Partition(STORE, 0): records}


async def hosted(store: SharedEventStore, write_connections: int) -> WorkflowHarness:
    harness = await host_workflows(database=store)
    object.__setattr__(harness.nodes.postgres_adapter.resources, "write_connections", write_connections)
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


async def test_a_failed_part_fails_the_batch_and_writing_it_again_stores_every_row_once() -> None:
    count = 2 * ROWS_PER_WRITE_CONNECTION
    store = SharedEventStore(expected_at_once=2, fail_connection=2)
    harness = await hosted(store, write_connections=2)
    batch = events(count)

    failed = None
    try:
        await harness.gateway.handle(batch)
    except Exception as exc:  # the outage, as the consumer loop sees it
        failed = exc
    assert failed is not None
    assert len(store.stored) == ROWS_PER_WRITE_CONNECTION, "the other part ran to its end"
    assert harness.stats.stored == 0, "nothing reported stored: the batch is not committed"

    await harness.gateway.handle(batch)

    assert len(store.stored) == count
    assert harness.stats.stored == ROWS_PER_WRITE_CONNECTION
    assert harness.stats.duplicates == ROWS_PER_WRITE_CONNECTION
