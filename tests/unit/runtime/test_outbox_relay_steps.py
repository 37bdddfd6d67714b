"""The outbox relay's decisions: order per key, outages pause, poison rows are isolated.

The relay is three operations of two nodes, driven here in the composition's order
(``outbox_relay``): postgres_adapter's ``claim_outbox_batch``, kafka_adapter's
``publish_outbox``, postgres_adapter's ``mark_outbox_published``; the round is closed in
a ``finally`` as the orchestrator's repeat loop does. The node mixins run on small hosts
giving them fakes for their pool, breakers, producers and contract binding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar, cast

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.contract_validation.model_environment_settings import ModelWorkflowRuntimeSettings
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import OutageError, PoisonRecordError
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.outbox_spill import encode_headers
from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl
from omnibase_infra.nodes.kafka_adapter.v1_0_0.node import NodeKafkaAdapterEffect
from omnibase_infra.nodes.kafka_adapter.v1_0_0.outbox_operations import OutboxPublishOperations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.node import NodePostgresAdapterEffect
from omnibase_infra.nodes.postgres_adapter.v1_0_0.outbox_operations import (
    CLAIM_SQL,
    CUSTOM_PLAN_SQL,
    PENDING_SQL,
    OutboxOperations,
)
from omnibase_infra.workflow.operations import StepContext, operations_of
from omnibase_infra.workflow.payloads import ChainResult, OutboxRound, Tick

from .fakes import FakeGuard, FakePublisher, UntouchableDatabase

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
    from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
    from omnibase_infra.nodes.node_binding import NodeBinding
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.resources import PostgresResources
    from omnibase_infra.workflow.protocols import Headers, ProtocolConnectionSource, ProtocolWorkflowObserver

T = TypeVar("T")

TOPIC = "onex.evt.orders.created.v1"
STATE = "onex.evt.infrastructure.state-changed.v1"
WORKFLOW = "outbox_relay"


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


@dataclass(frozen=True)
class ProducerPolicy:
    """The part of the producer config the relay reads."""

    enable_idempotence: bool = True


class FakeDelivery:
    """A buffered record's ack: what the publisher answered when it was buffered."""

    def __init__(self, lane: FakeLane, row_id: bytes, outcome: tuple[int, int] | Exception) -> None:
        self.lane = lane
        self.row_id = row_id
        self.outcome = outcome

    async def ack(self) -> tuple[int, int]:
        self.lane.timeline.append(("ack", self.row_id))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeLane:
    """One producer of the pool: a record goes to ``publisher`` when buffered, its ack is awaited later.

    With ``idempotent`` (the broker's sequence numbers) a record buffered behind a failed
    one of its topic and key (its partition) never reaches the topic: it fails too. Without
    it, later records are delivered whatever happened to earlier ones.
    """

    def __init__(self, publisher: FakePublisher, timeline: list[tuple[str, bytes]], idempotent: bool) -> None:
        self.publisher = publisher
        self.timeline = timeline
        self.idempotent = idempotent
        self.lost: dict[tuple[str, bytes | None], Exception] = {}

    async def enqueue(self, event: OutboundEvent) -> FakeDelivery:
        self.timeline.append(("buffer", event.value))
        partition = (event.topic, event.key)
        if self.idempotent and partition in self.lost:
            return FakeDelivery(self, event.value, OutageError("out of order sequence"))
        try:
            outcome: tuple[int, int] | Exception = await self.publisher.send(
                event.topic, event.value, event.key, event.headers
            )
        except Exception as exc:
            outcome = exc
            if event.key is not None:  # a keyless record may go to any partition
                self.lost[partition] = exc
        return FakeDelivery(self, event.value, outcome)

    def send_buffered(self) -> None:
        self.timeline.append(("send", b""))


class FakeProducers:
    """kafka_adapter's producer pool: lanes send through ``publisher``; ``topic_exists`` asks ``topics``."""

    def __init__(self, publisher: FakePublisher, topics: FakeTopics, *, idempotent: bool = True) -> None:
        self.publisher = publisher
        self.topics = topics
        self.config = ProducerPolicy(enable_idempotence=idempotent)
        self.timeline: list[tuple[str, bytes]] = []
        self.lanes = 0

    @contextlib.asynccontextmanager
    async def lane(self) -> AsyncIterator[FakeLane]:
        self.lanes += 1
        yield FakeLane(self.publisher, self.timeline, self.config.enable_idempotence)

    async def topic_exists(self, topic: str) -> bool:
        return await self.topics.topic_exists(topic)


@dataclass(frozen=True)
class BreakerPolicy:
    """The part of a breaker's config the relay reads."""

    timeout_seconds: float = 30.0
    dead_letter_enabled: bool = True


class OutboxGuard(FakeGuard):
    """A node's breaker: a ``FakeGuard`` with the config the relay reads."""

    def __init__(
        self,
        name: str = "fake",
        *,
        open: bool = False,
        timeout_seconds: float = 30.0,
        dead_letter_enabled: bool = True,
    ) -> None:
        super().__init__(name, open=open)
        self.config = BreakerPolicy(timeout_seconds, dead_letter_enabled)


class FakeOutboxConnection:
    """The claim returns ``rows``; every other statement is recorded with its arguments.

    ``transaction()`` notes how the claim's transaction ended: committed or rolled back.
    """

    def __init__(self, rows: list[asyncpg.Record], *, pending: int = 0) -> None:
        self.rows = rows
        self.pending = pending
        self.executed: list[tuple[str, tuple[object, ...]]] = []
        self.outcome = "open"
        self.execute_error: Exception | None = None
        self.claims: list[tuple[object, ...]] = []
        self.planned: list[int] = []  # claims made before each SET LOCAL plan_cache_mode

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        assert sql == CLAIM_SQL
        self.claims.append(args)
        return self.rows

    async def fetchval(self, sql: str, *args: object) -> int:
        assert sql == PENDING_SQL
        return self.pending

    async def execute(self, sql: str, *args: object) -> str:
        if sql == CUSTOM_PLAN_SQL:
            self.planned.append(len(self.claims))
            return "SET"
        if self.execute_error is not None:
            raise self.execute_error
        self.executed.append((sql, args))
        return "UPDATE"

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            self.outcome = "rolled back"
            raise
        self.outcome = "committed"

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


class OneConnection:
    """``ProtocolConnectionSource`` lending ``conn``; counts loans and returns."""

    def __init__(self, conn: FakeOutboxConnection) -> None:
        self.conn = conn
        self.lent = 0
        self.returned = 0

    @contextlib.asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[FakeOutboxConnection]:
        self.lent += 1
        try:
            yield self.conn
        finally:
            self.returned += 1


class FakeContracts:
    """The contract set as the relay reads it: infrastructure_orchestrator's ``workflow_runtime``."""

    def __init__(self, runtime: ModelWorkflowRuntimeSettings) -> None:
        self.runtime = runtime
        self.asked: list[tuple[str, EnumEnvironment | str]] = []
        self.name = ""

    def node(self, name: str) -> FakeContracts:
        self.name = name
        return self

    def workflow_runtime(self, environment: EnumEnvironment | str) -> ModelWorkflowRuntimeSettings:
        self.asked.append((self.name, environment))
        return self.runtime


@dataclass
class FakeBinding:
    contract_set: FakeContracts
    environment: EnumEnvironment = EnumEnvironment.STAGING


@dataclass
class FakePostgresResources:
    database: ProtocolConnectionSource
    breaker: OutboxGuard


class PostgresSide(OutboxOperations):
    """postgres_adapter's outbox operations on fakes (the node's resources, binding, observer)."""

    def __init__(
        self,
        database: ProtocolConnectionSource,
        breaker: OutboxGuard,
        *,
        batch_size: int = 500,
        max_attempts: int = 5,
        observer: ProtocolWorkflowObserver | None = None,
    ) -> None:
        runtime = ModelWorkflowRuntimeSettings(
            outbox_batch_size=batch_size,
            outbox_max_attempts=max_attempts,
            outbox_idle_interval_ms=10,
            shutdown_grace_seconds=1,
        )
        self.contracts = FakeContracts(runtime)
        self.fake_resources = FakePostgresResources(database, breaker)
        self._clock = FakeClock()
        self._observer = observer

    @property
    def resources(self) -> PostgresResources:
        return cast("PostgresResources", self.fake_resources)

    @property
    def binding(self) -> NodeBinding:
        return cast("NodeBinding", FakeBinding(self.contracts))


class KafkaSide(OutboxPublishOperations):
    """kafka_adapter's ``publish_outbox`` on fakes (the node's producers, breaker, ACL)."""

    def __init__(self, producers: FakeProducers, breaker: OutboxGuard, acl: TopicAcl | None) -> None:
        self.fake_producers = producers
        self.fake_breaker = breaker
        self._acl = acl
        self._clock = FakeClock()

    @property
    def producers(self) -> KafkaProducerPool:
        return cast("KafkaProducerPool", self.fake_producers)

    @property
    def breaker(self) -> EventBusCircuitBreaker:
        return cast("EventBusCircuitBreaker", self.fake_breaker)


def step(node: str, name: str) -> StepContext:
    return StepContext(workflow=WORKFLOW, step_id=name, node=node, operation=name)


class Relay:
    """The ``outbox_relay`` workflow over the two sides: claim, publish, mark; close in a finally."""

    def __init__(self, postgres: PostgresSide, kafka: KafkaSide) -> None:
        self.postgres = postgres
        self.kafka = kafka

    async def relay_once(self) -> OutboxRound:
        round_ = await self.postgres.claim_outbox_batch(
            Tick(datetime(2026, 1, 1, tzinfo=UTC)), step("postgres_adapter", "claim_outbox_batch")
        )
        try:
            round_ = await self.kafka.publish_outbox(round_, step("kafka_adapter", "publish_outbox"))
            return await self.postgres.mark_outbox_published(
                round_, step("postgres_adapter", "mark_outbox_published")
            )
        finally:
            await round_.aclose()

    async def _publish_chain(self, chain: list[asyncpg.Record]) -> ChainResult:
        """One key's rows published as a round would (one lane, the breaker, a 30 s budget)."""
        [result] = await self.kafka._publish_rows(chain, 30.0)
        return result


def acl(*relay: str) -> TopicAcl:
    return TopicAcl(
        reply=("onex.evt.postgres.operation-completed.v1",),
        relay=relay or (TOPIC,),
        state=(STATE,),
        consumed=("onex.cmd.postgres.operation.v1",),
    )


def relay(
    publisher: FakePublisher,
    publish_guard: OutboxGuard | None = None,
    *,
    topics: FakeTopics | None = None,
    dead_letter_enabled: bool = True,
    max_attempts: int = 5,
    database: ProtocolConnectionSource | None = None,
    database_guard: OutboxGuard | None = None,
    topic_acl: TopicAcl | None = None,
) -> Relay:
    postgres = PostgresSide(
        database or UntouchableDatabase(),
        database_guard or OutboxGuard("postgres"),
        max_attempts=max_attempts,
    )
    kafka = KafkaSide(
        FakeProducers(publisher, topics or FakeTopics(TOPIC, STATE)),
        publish_guard or OutboxGuard("kafka", dead_letter_enabled=dead_letter_enabled),
        topic_acl or acl(),
    )
    return Relay(postgres, kafka)


async def run_round(outbox: Relay, conn: FakeOutboxConnection) -> tuple[int, int, int, bool]:
    """One round on ``conn``: the three steps; the claim's transaction must end committed."""
    source = OneConnection(conn)
    outbox.postgres.fake_resources.database = cast("ProtocolConnectionSource", source)
    report = await outbox.relay_once()
    assert conn.outcome == "committed"
    assert (source.lent, source.returned) == (1, 1)
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
    assert publisher.attempts == 2, "row 3 never lands behind the lost row 2"


async def test_an_open_breaker_stops_the_chain_as_an_outage() -> None:
    publisher = FakePublisher()

    result = await relay(publisher, OutboxGuard("kafka", open=True))._publish_chain([row(1), row(2)])

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
    assert publisher.attempts == 1, "row 2 never lands behind the failed row 1"


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
    outbox = relay(publisher, topics=topics, topic_acl=acl(missing))

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


async def test_a_database_outage_fails_the_claim_quietly_as_an_outage_and_touches_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The repeat loop (the orchestrator's) idles on an outage; the steps log nothing and count nothing."""
    db_guard = OutboxGuard("postgres", open=True)
    database = UntouchableDatabase()
    outbox = relay(FakePublisher(), database=database, database_guard=db_guard)

    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            with pytest.raises(Exception) as raised:
                await outbox.relay_once()
            assert is_outage(raised.value), "the loop must treat it as an outage (no error logged)"

    assert db_guard.refused >= 3
    assert caplog.records == []
    assert database.acquired == 0
    assert outbox.postgres.outbox_published_total == 0


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


class SqlGuard(OutboxGuard):
    """The PostgreSQL guard: says whether a call is running inside it."""

    def __init__(self, timeout_seconds: float = 30.0) -> None:
        super().__init__("postgres", timeout_seconds=timeout_seconds)
        self.inside = False

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        self.inside = True
        try:
            return await super().call(fn)
        finally:
            self.inside = False


async def test_a_hanging_send_is_cut_at_the_send_budget_and_the_acknowledged_rows_are_marked() -> None:
    # The send budget is half the PostgreSQL breaker's timeout: 0.01 s here.
    sql_guard = SqlGuard(timeout_seconds=0.02)
    publisher = HangingPublisher(b"slow", sql_guard)
    conn = FakeOutboxConnection([row(1, key=b"fast"), row(2, key=b"slow"), row(3, key=b"fast")])
    outbox = relay(
        publisher,
        topics=FakeTopics(TOPIC),
        database=cast("ProtocolConnectionSource", OneConnection(conn)),
        database_guard=sql_guard,
    )

    report = await asyncio.wait_for(outbox.relay_once(), timeout=10)

    assert report.send_budget_seconds == pytest.approx(0.01)
    assert (report.published, report.failed, report.parked, report.interrupted) == (2, 0, 0, True)
    assert conn.outcome == "committed"
    assert conn.published_ids() == [1, 3]
    assert conn.marks() == {}, "the cut-off row counts no attempt and stays pending"
    assert publisher.sent_under_sql_guard == 0, "the PostgreSQL guard covers the SQL, never a send"
    assert sql_guard.calls == 2, "the claim and the marking"
    assert not report.more, "an interrupted round idles before the next"


async def test_keyless_rows_are_chains_of_their_own_and_one_failing_stops_no_other() -> None:
    publisher = FakePublisher()
    publisher.failures = [ValueError("odd")]
    conn = FakeOutboxConnection([row(1, key=None), row(2, key=None), row(3, key=None, headers="{}")])

    counts = await run_round(relay(publisher), conn)

    assert counts == (1, 2, 1, False)
    assert conn.published_ids() == [2]
    assert conn.marks()[1] == (1, "ValueError: odd", False)
    assert conn.marks()[3][2], "the poison keyless row is parked"


async def test_a_round_buffers_every_row_on_one_lane_before_it_waits_for_the_acks() -> None:
    publisher = FakePublisher()
    topics = FakeTopics(TOPIC)
    outbox = relay(publisher, topics=topics)
    rows = [row(i, key=b"ab"[i % 2 : i % 2 + 1]) for i in range(1, 7)]

    results = await outbox.kafka._publish_rows(rows, 30.0)

    assert sorted(i for r in results for i in r.published) == [1, 2, 3, 4, 5, 6]
    timeline = outbox.kafka.fake_producers.timeline
    for key_rows in ({b"p1", b"p3", b"p5"}, {b"p2", b"p4", b"p6"}):
        steps = [what for what, value in timeline if value in key_rows]
        assert steps == ["buffer"] * 3 + ["ack"] * 3, (
            "a key's rows are all buffered before any ack is awaited"
        )
    steps = [what for what, _ in timeline]
    last_buffered = max(i for i, what in enumerate(steps) if what == "buffer")
    assert steps.count("send") == 1 and steps.index("send") > last_buffered, (
        "the round's batches are sent without linger once, after every chain was buffered"
    )
    assert outbox.kafka.fake_producers.lanes == 1, "the whole round goes through one producer"
    assert topics.asked == [TOPIC], "a topic's existence is asked once per round"
    assert outbox.kafka.fake_breaker.calls == 1, "one breaker call covers the round's sends"


async def test_rows_of_a_key_reach_the_topic_in_id_order_and_never_behind_a_failed_one() -> None:
    publisher = FakePublisher()
    publisher.failures = [None, OutageError("leader lost")]  # key b's chain goes first: row 4 is lost
    rows = [row(i, key=b"abc"[i % 3 : i % 3 + 1]) for i in range(1, 13)]
    conn = FakeOutboxConnection(rows)

    counts = await run_round(relay(publisher), conn)

    sent = {key: [int(r.value[1:]) for r in publisher.sent if r.key == key] for key in (b"a", b"b", b"c")}
    assert sent[b"a"] == [3, 6, 9, 12] and sent[b"c"] == [2, 5, 8, 11]
    assert sent[b"b"] == [1], "nothing of key b lands after its lost row 4"
    assert conn.published_ids() == [1, 2, 3, 5, 6, 8, 9, 11, 12]
    assert counts == (9, 0, 0, True)
    assert conn.marks() == {}, "rows 4, 7 and 10 stay pending, no attempt counted"


async def test_without_idempotence_each_ack_is_awaited_before_the_next_row_of_its_key() -> None:
    # Without the broker's sequence numbers a row buffered behind a failed one could land
    # after it: the relay must not buffer it before the earlier row was acknowledged.
    publisher = FakePublisher()
    publisher.failures = [None, ValueError("odd")]
    outbox = relay(publisher)
    outbox.kafka.fake_producers = FakeProducers(publisher, FakeTopics(TOPIC), idempotent=False)

    result = await outbox._publish_chain([row(1), row(2), row(3)])

    assert result.published == [1]
    assert [r["id"] for r, _ in result.failed] == [2]
    assert [r.value for r in publisher.sent] == [b"p1"], "row 3 never reaches the topic after row 2 failed"
    timeline = [what for what, _ in outbox.kafka.fake_producers.timeline]
    assert timeline == ["buffer", "send", "ack", "buffer", "send", "ack", "send"]


async def test_every_claim_is_planned_for_the_table_as_it_is_now() -> None:
    conn = FakeOutboxConnection([row(1)])

    await run_round(relay(FakePublisher()), conn)
    await run_round(relay(FakePublisher()), conn)

    assert conn.planned == [0, 1], "a custom plan is asked for in each claim's transaction, before it"
    assert CUSTOM_PLAN_SQL == (
        "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_bitmapscan = off"
    )


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
    assert "e.topic = k.topic AND e.key = k.key" in CLAIM_SQL
    assert "g.topic = c.topic AND g.key = c.key" in CLAIM_SQL
    assert "topic || ':' || encode(key, 'hex')" in CLAIM_SQL


# -- the round as a workflow payload -------------------------------------------------------


class RecordingObserver:
    """``ProtocolWorkflowObserver``: notes ``on_relayed``."""

    def __init__(self) -> None:
        self.relayed: list[int] = []

    def on_stored(self, result: object, rows: object) -> None:
        raise AssertionError("not a relay hook")

    def on_operation(self, source: object, request: object, outcome: object) -> None:
        raise AssertionError("not a relay hook")

    def on_dead_letter(self, letter: object) -> None:
        raise AssertionError("not a relay hook")

    def on_relayed(self, published: int) -> None:
        self.relayed.append(published)


def test_the_nodes_declare_the_three_operations_with_their_payloads() -> None:
    postgres = operations_of(NodePostgresAdapterEffect)
    kafka = operations_of(NodeKafkaAdapterEffect)
    assert (postgres["claim_outbox_batch"].input, postgres["claim_outbox_batch"].output) == (
        Tick,
        OutboxRound,
    )
    assert postgres["mark_outbox_published"].output_for(OutboxRound) is OutboxRound
    assert kafka["publish_outbox"].output_for(OutboxRound) is OutboxRound
    assert postgres["mark_outbox_published"].input is kafka["publish_outbox"].input is OutboxRound
    assert hasattr(NodePostgresAdapterEffect, "pending_count")


async def test_the_claim_reads_the_orchestrators_limits_and_the_budget_from_the_database_breaker() -> None:
    conn = FakeOutboxConnection([])
    postgres = PostgresSide(
        cast("ProtocolConnectionSource", OneConnection(conn)),
        OutboxGuard("postgres", timeout_seconds=8.0),
        batch_size=7,
    )
    claimed: list[object] = []

    async def fetch(sql: str, *args: object) -> list[asyncpg.Record]:
        claimed.extend(args)
        return []

    conn.fetch = fetch  # type: ignore[method-assign]  # records the batch size the claim binds

    round_ = await postgres.claim_outbox_batch(Tick(datetime(2026, 1, 1, tzinfo=UTC)), step("p", "claim"))
    try:
        assert claimed == [7]
        assert round_.send_budget_seconds == 4.0
        assert postgres.contracts.asked == [("infrastructure_orchestrator", EnumEnvironment.STAGING)]
        assert conn.outcome == "open", "the claim's transaction stays open for the marking"
    finally:
        await round_.aclose()
    assert conn.outcome == "rolled back"


async def test_a_round_that_did_work_asks_for_another_at_once_and_tells_the_observer() -> None:
    observer = RecordingObserver()
    conn = FakeOutboxConnection([row(1, key=b"a"), row(2, key=b"b", headers="{}")])
    outbox = relay(FakePublisher())
    outbox.postgres._observer = cast("ProtocolWorkflowObserver", observer)

    outbox.postgres.fake_resources.database = cast("ProtocolConnectionSource", OneConnection(conn))

    first = await outbox.relay_once()
    conn.rows = []  # the next claim finds nothing pending
    empty = await outbox.relay_once()

    assert (first.published, first.failed, first.parked, first.interrupted) == (1, 1, 1, False)
    assert first.more, "a round that did work runs again at once"
    assert observer.relayed == [1, 0]
    assert (outbox.postgres.outbox_published_total, outbox.postgres.outbox_parked_total) == (1, 1)
    assert not empty.more, "an empty round idles"


async def test_a_round_that_parked_only_still_runs_again_at_once() -> None:
    conn = FakeOutboxConnection([row(1, headers="{}")])
    outbox = relay(FakePublisher())
    source = OneConnection(conn)
    outbox.postgres.fake_resources.database = cast("ProtocolConnectionSource", source)

    round_ = await outbox.relay_once()

    assert (round_.published, round_.parked, round_.marked) == (0, 1, True)
    assert round_.more


async def test_a_publish_step_that_raises_rolls_the_claim_back_when_the_round_is_closed() -> None:
    publisher = FakePublisher()
    conn = FakeOutboxConnection([row(1)])
    source = OneConnection(conn)
    outbox = relay(publisher, topics=FakeTopics(error=RuntimeError("bug in the directory")))
    outbox.postgres.fake_resources.database = cast("ProtocolConnectionSource", source)

    async def broken(rows: object, budget: float) -> list[ChainResult]:
        raise RuntimeError("bug in publish_outbox")

    outbox.kafka._publish_rows = broken  # type: ignore[method-assign, assignment]  # a step that raises

    with pytest.raises(RuntimeError, match="bug in publish_outbox"):
        await outbox.relay_once()

    assert conn.outcome == "rolled back"
    assert (source.lent, source.returned) == (1, 1), "the connection goes back to the pool"
    assert conn.executed == [], "nothing is marked"


async def test_a_marking_that_fails_rolls_the_claim_back_and_returns_the_connection() -> None:
    conn = FakeOutboxConnection([row(1)])
    conn.execute_error = OutageError("connection lost")
    source = OneConnection(conn)
    outbox = relay(FakePublisher())
    outbox.postgres.fake_resources.database = cast("ProtocolConnectionSource", source)
    round_ = await outbox.postgres.claim_outbox_batch(Tick(datetime(2026, 1, 1, tzinfo=UTC)), step("p", "c"))
    round_ = await outbox.kafka.publish_outbox(round_, step("k", "p"))

    with pytest.raises(OutageError):
        await outbox.postgres.mark_outbox_published(round_, step("p", "m"))

    assert conn.outcome == "rolled back"
    assert (source.lent, source.returned) == (1, 1)
    assert not round_.more
    await round_.aclose()  # the orchestrator's finally: a no-op now
    assert source.returned == 1


async def test_the_pending_count_is_a_method_of_the_postgres_adapter() -> None:
    conn = FakeOutboxConnection([], pending=42)
    postgres = PostgresSide(cast("ProtocolConnectionSource", OneConnection(conn)), OutboxGuard("postgres"))

    assert await postgres.pending_count() == 42


async def test_the_round_carries_the_kafka_breakers_dead_letter_policy() -> None:
    round_ = OutboxRound()
    kafka = KafkaSide(
        FakeProducers(FakePublisher(), FakeTopics(TOPIC)),
        OutboxGuard("kafka", dead_letter_enabled=False),
        acl(),
    )

    await kafka.publish_outbox(round_, step("kafka_adapter", "publish_outbox"))

    assert round_.dead_letter_enabled is False
    assert round_.chains == []
