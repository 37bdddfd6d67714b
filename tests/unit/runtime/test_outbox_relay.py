"""The outbox relay's decisions: order per key, outages pause, poison rows are isolated."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, cast

import pytest

from omnibase_infra.errors import OutageError, PoisonRecordError
from omnibase_infra.infrastructure.outbox_spill import encode_headers
from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl
from omnibase_infra.runtime.outbox_relay import CLAIM_SQL, OutboxRelay

from .fakes import FakeGuard, FakePublisher, UntouchableDatabase, spin_until

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.workflow.protocols import DbConnection, Headers, ProtocolConnectionSource

T = TypeVar("T")

TOPIC = "onex.evt.orders.created.v1"
STATE = "onex.evt.infrastructure.state-changed.v1"


def row(
    row_id: int,
    key: bytes | None = b"order-1",
    headers: str | None = None,
    *,
    topic: str = TOPIC,
    attempts: int = 0,
    origin: str = "application",
) -> asyncpg.Record:
    data = {
        "id": row_id,
        "topic": topic,
        "key": key,
        "payload": f"p{row_id}".encode(),
        "headers": headers,
        "attempts": attempts,
        "origin": origin,
    }
    return cast("asyncpg.Record", data)


class FakeTopics:
    """``ProtocolTopicDirectory``: the topics in ``existing`` exist; ``error`` is raised when set."""

    def __init__(self, *existing: str, error: Exception | None = None) -> None:
        self.existing = set(existing)
        self.error = error
        self.asked: list[str] = []

    async def topic_exists(self, topic: str) -> bool:
        self.asked.append(topic)
        if self.error is not None:
            raise self.error
        return topic in self.existing


class FakeOutboxConnection:
    """The claim returns ``rows``; every other statement is recorded with its arguments."""

    def __init__(self, rows: list[asyncpg.Record]) -> None:
        self.rows = rows
        self.executed: list[tuple[str, tuple[object, ...]]] = []

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        assert sql == CLAIM_SQL
        return self.rows

    async def execute(self, sql: str, *args: object) -> str:
        self.executed.append((sql, args))
        return "UPDATE"

    def published_ids(self) -> list[int]:
        ids = [args[0] for sql, args in self.executed if "status = 'published'" in sql]
        return sorted(i for batch in ids for i in cast("list[int]", batch))

    def marks(self) -> dict[int, tuple[int, str, bool]]:
        """id -> (attempts, last_error, dead-lettered) of every failed row."""
        return {
            cast("int", args[0]): (cast("int", args[1]), cast("str", args[2]), cast("bool", args[3]))
            for sql, args in self.executed
            if "last_error" in sql
        }


def acl(*relay: str) -> TopicAcl:
    return TopicAcl(
        reply=("onex.evt.postgres.operation-completed.v1",),
        relay=relay or (TOPIC,),
        state=(STATE,),
        consumed=("onex.cmd.postgres.operation.v1",),
    )


def relay(
    publisher: FakePublisher,
    publish_guard: FakeGuard | None = None,
    *,
    topics: FakeTopics | None = None,
    dead_letter_enabled: bool = True,
    max_attempts: int = 5,
) -> OutboxRelay:
    return OutboxRelay(
        UntouchableDatabase(),
        FakeGuard("postgres"),
        publisher,
        publish_guard or FakeGuard("kafka"),
        topic_acl=acl(),
        topics=topics or FakeTopics(TOPIC, STATE),
        dead_letter_enabled=dead_letter_enabled,
        max_attempts=max_attempts,
        idle_interval_seconds=0,
    )


async def run_round(outbox: OutboxRelay, conn: FakeOutboxConnection) -> tuple[int, int, int, bool]:
    report = await outbox._relay(cast("DbConnection", conn))
    return report.published, report.failed, report.parked, report.interrupted


async def test_a_chain_is_published_in_order_with_its_headers() -> None:
    publisher = FakePublisher()
    chain = [
        row(1, headers=encode_headers([("traceparent", b"00-a"), ("x", b"\x00\xff")])),
        row(2, headers=encode_headers([])),
        row(3, headers=None),
    ]

    result = await relay(publisher)._publish_chain(chain)

    assert result.published == [1, 2, 3]
    assert (result.failed, result.outage) == ([], False)
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

    result = await relay(publisher)._publish_chain([row(1), row(2), row(3)])

    assert result.published == [1]
    assert result.failed == []
    assert result.outage
    assert publisher.attempts == 2, "row 3 must wait behind row 2"


async def test_an_open_breaker_stops_the_chain_as_an_outage() -> None:
    publisher = FakePublisher()

    result = await relay(publisher, FakeGuard("kafka", open=True))._publish_chain([row(1), row(2)])

    assert (result.published, result.failed, result.outage) == ([], [], True)
    assert publisher.sent == []


async def test_an_unclassified_failure_is_retried_and_stops_the_rest_of_its_key() -> None:
    publisher = FakePublisher()
    publisher.failures.append(ValueError("something odd"))

    result = await relay(publisher)._publish_chain([row(1), row(2)])

    assert result.published == []
    assert [(r["id"], f.reason, f.poison) for r, f in result.failed] == [
        (1, "ValueError: something odd", False)
    ]
    assert not result.outage
    assert publisher.attempts == 1, "row 2 must wait behind row 1"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ('{"traceparent": "00-a"}', "must be a JSON array of [name, base64 value] pairs, not a JSON object"),
        ("[[1, 2]]", "headers[0] must be a [name, base64 value] pair of strings"),
        ('[["x", "not base64!"]]', "headers[0] (x): the value is not base64"),
        ('"just text"', "not a JSON string"),
    ],
)
async def test_malformed_headers_make_a_poison_row_named_in_its_error(headers: str, reason: str) -> None:
    publisher = FakePublisher()

    result = await relay(publisher)._publish_chain([row(1, headers=headers), row(2)])

    assert result.published == []
    [(failed, failure)] = result.failed
    assert failed["id"] == 1 and failure.poison
    assert failure.reason.startswith("outbox: MalformedHeaders: ")
    assert reason in failure.reason
    assert publisher.attempts == 0, "neither the bad row nor the row behind it is sent"


async def test_a_topic_the_acl_refuses_is_poison_and_never_sent() -> None:
    publisher = FakePublisher()
    forged = "onex.evt.postgres.operation-completed.v1"

    result = await relay(publisher)._publish_chain([row(1, topic=forged)])

    [(_, failure)] = result.failed
    assert failure.poison
    assert failure.reason.startswith(f"acl: TopicNotAllowed: topic {forged} is not allowed for relay")
    assert publisher.attempts == 0


async def test_spilled_state_events_pass_the_acl() -> None:
    publisher = FakePublisher()

    result = await relay(publisher)._publish_chain([row(1, topic=STATE, key=None, origin="service")])

    assert result.published == [1]
    assert publisher.sent[0].topic == STATE


async def test_an_application_row_for_the_state_topic_is_dead_lettered_as_forged() -> None:
    publisher = FakePublisher()
    conn = FakeOutboxConnection([row(1, topic=STATE, key=b"postgres")])

    counts = await run_round(relay(publisher), conn)

    assert counts == (0, 1, 1, False)
    attempts, error, parked = conn.marks()[1]
    assert (attempts, parked) == (1, True)
    assert error.startswith(f"acl: TopicNotAllowed: topic {STATE} is not allowed for relay")
    assert publisher.sent == []


async def test_a_topic_missing_on_the_brokers_is_poison_and_never_sent() -> None:
    publisher = FakePublisher()
    missing = "onex.evt.orders.missing.v1"
    topics = FakeTopics(STATE)
    outbox = OutboxRelay(
        UntouchableDatabase(),
        FakeGuard("postgres"),
        publisher,
        FakeGuard("kafka"),
        topic_acl=acl(missing),
        topics=topics,
    )

    result = await outbox._publish_chain([row(1, topic=missing)])

    [(_, failure)] = result.failed
    assert failure.poison
    assert failure.reason == (
        f"outbox: UnknownTopic: topic {missing} does not exist on the brokers "
        "(the relay never creates topics)"
    )
    assert topics.asked == [missing]
    assert publisher.attempts == 0


async def test_brokers_that_cannot_say_whether_a_topic_exists_are_an_outage() -> None:
    publisher = FakePublisher()
    topics = FakeTopics(error=OutageError("no metadata within 5 s"))

    result = await relay(publisher, topics=topics)._publish_chain([row(1), row(2)])

    assert (result.published, result.failed, result.outage) == ([], [], True)


async def test_a_record_the_broker_refuses_is_poison() -> None:
    publisher = FakePublisher()
    publisher.failures.append(PoisonRecordError("kafka_send", "MessageSizeTooLargeError", "too large"))

    result = await relay(publisher)._publish_chain([row(1)])

    [(_, failure)] = result.failed
    assert failure.poison
    assert failure.reason == "kafka_send: MessageSizeTooLargeError: too large"


async def test_a_round_marks_good_keys_published_and_dead_letters_the_bad_row_at_once() -> None:
    publisher = FakePublisher()
    conn = FakeOutboxConnection(
        [
            row(1, key=b"a", headers='{"not": "a list"}'),
            row(2, key=b"b"),
            row(3, key=b"a"),
            row(4, key=b"c"),
            row(5, key=b"b"),
        ]
    )

    counts = await run_round(relay(publisher), conn)

    assert counts == (3, 1, 1, False)
    assert conn.published_ids() == [2, 4, 5]
    attempts, error, parked = conn.marks()[1]
    assert (attempts, parked) == (1, True)
    assert "headers must be a JSON array" in error
    assert 3 not in conn.marks(), "the row behind the bad one stays pending, untouched"
    assert [r.value for r in publisher.sent if r.key == b"b"] == [b"p2", b"p5"]


async def test_an_outage_in_one_key_still_marks_what_other_keys_got_acknowledged() -> None:
    publisher = FakePublisher()
    publisher.failures = [None, OutageError("broker unavailable")]
    conn = FakeOutboxConnection([row(1, key=b"a"), row(2, key=b"b")])

    counts = await run_round(relay(publisher), conn)

    assert counts == (1, 0, 0, True)
    assert conn.published_ids() == [1]
    assert conn.marks() == {}, "an outage counts no attempt and dead-letters nothing"


async def test_without_dead_lettering_only_poison_is_parked() -> None:
    publisher = FakePublisher()
    publisher.fail_always = ValueError("odd")
    conn = FakeOutboxConnection([row(1, headers="{}"), row(2, key=b"b", attempts=9)])

    counts = await run_round(relay(publisher, dead_letter_enabled=False, max_attempts=3), conn)

    assert counts == (0, 2, 1, False)
    attempts, error, parked = conn.marks()[1]
    assert (attempts, parked) == (1, True)
    assert "MalformedHeaders" in error
    assert conn.marks()[2] == (10, "ValueError: odd", False), "retried forever, never parked"


async def test_an_unclassified_failure_is_parked_after_max_attempts() -> None:
    publisher = FakePublisher()
    publisher.fail_always = ValueError("odd")
    conn = FakeOutboxConnection([row(1, attempts=1), row(2, key=b"b", attempts=2)])

    counts = await run_round(relay(publisher, max_attempts=3), conn)

    assert counts == (0, 2, 1, False)
    assert conn.marks()[1][0::2] == (2, False)
    assert conn.marks()[2][0::2] == (3, True)


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


class HangingPublisher(FakePublisher):
    """Acknowledges every key but ``hang_key``, whose send never returns; notes sends under the SQL guard."""

    def __init__(self, hang_key: bytes, sql_guard: SqlGuard) -> None:
        super().__init__()
        self.hang_key = hang_key
        self.sql_guard = sql_guard
        self.sent_under_sql_guard = 0

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> tuple[int, int]:
        self.sent_under_sql_guard += int(self.sql_guard.inside)
        if key == self.hang_key:
            self.attempts += 1
            await asyncio.Event().wait()
        return await super().send(topic, value, key, headers, partition)


class SqlGuard(FakeGuard):
    """The PostgreSQL guard: says whether a call is running inside it."""

    def __init__(self) -> None:
        super().__init__("postgres")
        self.inside = False

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        self.inside = True
        try:
            return await super().call(fn)
        finally:
            self.inside = False


class TransactionalConnection(FakeOutboxConnection):
    def __init__(self, rows: list[asyncpg.Record]) -> None:
        super().__init__(rows)
        self.outcome = "open"

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            self.outcome = "rolled back"
            raise
        self.outcome = "committed"


class OneConnection:
    def __init__(self, conn: TransactionalConnection) -> None:
        self.conn = conn

    @contextlib.asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[TransactionalConnection]:
        yield self.conn


async def test_a_hanging_send_is_cut_at_the_send_budget_and_the_acknowledged_rows_are_marked() -> None:
    sql_guard = SqlGuard()
    publisher = HangingPublisher(b"slow", sql_guard)
    conn = TransactionalConnection([row(1, key=b"fast"), row(2, key=b"slow"), row(3, key=b"fast")])
    outbox = OutboxRelay(
        cast("ProtocolConnectionSource", OneConnection(conn)),
        sql_guard,
        publisher,
        FakeGuard("kafka"),
        topic_acl=acl(),
        topics=FakeTopics(TOPIC),
        send_budget_seconds=0.01,
    )

    report = await asyncio.wait_for(outbox.relay_once(), timeout=10)

    assert (report.published, report.failed, report.parked, report.interrupted) == (2, 0, 0, True)
    assert conn.outcome == "committed"
    assert conn.published_ids() == [1, 3]
    assert conn.marks() == {}, "the cut-off row counts no attempt and stays pending"
    assert publisher.sent_under_sql_guard == 0, "the PostgreSQL guard covers the SQL, never a send"
    assert sql_guard.calls == 2, "the claim and the marking"


async def test_keyless_rows_are_chains_of_their_own_and_one_failing_stops_no_other() -> None:
    publisher = FakePublisher()
    publisher.failures = [ValueError("odd")]
    conn = FakeOutboxConnection([row(1, key=None), row(2, key=None), row(3, key=None, headers="{}")])

    counts = await run_round(relay(publisher), conn)

    assert counts == (1, 2, 1, False)
    assert conn.published_ids() == [2]
    assert conn.marks()[1] == (1, "ValueError: odd", False)
    assert conn.marks()[3][2], "the poison keyless row is parked"


def test_the_claim_takes_no_advisory_lock_for_a_keyless_row() -> None:
    lock = CLAIM_SQL.index("pg_try_advisory_xact_lock")
    assert "CASE WHEN key IS NULL THEN true" in CLAIM_SQL[:lock]


async def test_order_is_per_topic_and_key_so_a_bad_row_holds_back_no_other_topic() -> None:
    publisher = FakePublisher()
    conn = FakeOutboxConnection(
        [
            row(1, key=b"postgres", headers="{}"),
            row(2, key=b"postgres", topic=STATE, origin="service"),
            row(3, key=b"postgres"),
        ]
    )

    counts = await run_round(relay(publisher), conn)

    assert counts == (1, 1, 1, False)
    assert conn.published_ids() == [2]
    assert 3 not in conn.marks(), "the row behind the bad one of its topic and key waits"


def test_every_per_key_check_of_the_claim_matches_the_topic_too() -> None:
    assert "d.topic = o.topic AND d.key = o.key" in CLAIM_SQL
    assert "e.topic = c.topic AND e.key = c.key" in CLAIM_SQL
    assert "topic || ':' || encode(key, 'hex')" in CLAIM_SQL
