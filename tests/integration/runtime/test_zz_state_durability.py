"""State changes during outages, with the real service and servers: never lost, never invented.

The change is Kafka's own unhealthiness: with the broker stopped its state-changed event
goes to ``onex_outbox`` (nothing waits in memory), the relay publishes it once the broker
is back, and the topic then holds each change of the history table exactly once. With
PostgreSQL stopped as well, a change can be recorded nowhere, so it is not applied.

These tests stop and start the shared broker and PostgreSQL (``pg_admin`` brings both back
after the test); the file name sorts them after the other runtime tests.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer
from service_harness import ServiceProcess, ServiceTopics

Change = tuple[str, str | None, str, str]
"""(component, previous_status, status, changed_at) of one state change."""


async def _until[T](probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float) -> T:
    deadline = time.monotonic() + within
    while True:
        try:
            value = await probe()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            value = None  # type: ignore[assignment]
        if value is not None and done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {within} s; last value: {value!r}")
        await asyncio.sleep(0.3)


async def _history(dsn: str, schema: str) -> list[Change]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema}, timeout=3)
    try:
        rows = await conn.fetch(
            "SELECT component, previous_status, status, changed_at FROM onex_infrastructure_state_history "
            "ORDER BY id"
        )
    finally:
        await conn.close()
    return [(r["component"], r["previous_status"], r["status"], r["changed_at"].isoformat()) for r in rows]


async def _current(dsn: str, schema: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema}, timeout=3)
    try:
        rows = await conn.fetch("SELECT component, status FROM onex_infrastructure_state")
    finally:
        await conn.close()
    return {r["component"]: r["status"] for r in rows}


async def _outbox_pending(dsn: str, schema: str, topic: str) -> int:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema}, timeout=3)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM onex_outbox WHERE topic = $1 AND status <> 'published'", topic
            )
        )
    finally:
        await conn.close()


async def _topic_changes(bootstrap: str, topic: str, *, idle: float = 3.0) -> list[Change]:
    """Every state-changed event on ``topic``, read from the start until it stays quiet for ``idle`` s."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    changes: list[Change] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    p = json.loads(record.value)["payload"]
                    changes.append((p["component"], p.get("previous_status"), p["status"], p["changed_at"]))
                    quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return changes


def _normalised(changes: list[Change]) -> list[Change]:
    """Timestamps compared as instants (the topic and PostgreSQL spell them differently)."""
    return [(c, prev, s, datetime.fromisoformat(at).isoformat()) for c, prev, s, at in changes]


def _by_component(changes: list[Change]) -> dict[str, list[Change]]:
    """Each component's changes in the order given (the state topic has one partition)."""
    grouped: dict[str, list[Change]] = {}
    for change in _normalised(changes):
        grouped.setdefault(change[0], []).append(change)
    return grouped


def _of(component: str, changes: list[Change]) -> list[str]:
    return [status for c, _, status, _ in changes if c == component]


async def test_kafka_down_its_state_change_is_spilled_then_published_exactly_once_and_matches_the_tables(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    postgres_dsn: str,
    pg_schema: str,
    kafka_bootstrap: str,
    pg_admin: Callable[..., object],
) -> None:
    service.start()
    await service.wait_ready()
    await _until(lambda: _current(postgres_dsn, pg_schema), lambda s: s.get("kafka") == "healthy", 30)

    await asyncio.to_thread(pg_admin, "stop-kafka")
    history = await _until(
        lambda: _history(postgres_dsn, pg_schema), lambda h: "unhealthy" in _of("kafka", h), 60
    )
    assert _of("kafka", history) == ["healthy", "unhealthy"]
    # Durable while the broker is away: in the outbox, not in memory.
    assert await _outbox_pending(postgres_dsn, pg_schema, service_topics.state) >= 1
    _, detailed = await service.get_json("/health/detailed")
    breakers = {b["name"]: b for b in detailed["circuit_breaker_metrics"]}  # type: ignore[union-attr]
    assert breakers["kafka"]["events_queued"] == 0, breakers

    await asyncio.to_thread(pg_admin, "start-kafka", "--keep-data")
    await _until(lambda: _history(postgres_dsn, pg_schema), lambda h: _of("kafka", h)[-1:] == ["healthy"], 90)
    await _until(lambda: _outbox_pending(postgres_dsn, pg_schema, service_topics.state), lambda n: n == 0, 60)

    code, _ = service.stop()
    assert code == 0, service.log_tail()
    history = await _history(postgres_dsn, pg_schema)
    on_topic = await _topic_changes(kafka_bootstrap, service_topics.state)
    kafka = _of("kafka", history)
    assert kafka[:2] == ["healthy", "unhealthy"] and "healthy" in kafka[2:], kafka
    assert len(set(on_topic)) == len(on_topic), "no change was published twice"
    assert _by_component(on_topic) == _by_component(history), "topic and history agree, in order"
    current = await _current(postgres_dsn, pg_schema)
    last = {component: status for component, _, status, _ in history}
    assert current == last


async def test_kafka_and_postgres_down_a_change_is_not_applied_until_it_can_be_recorded(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    postgres_dsn: str,
    pg_schema: str,
    kafka_bootstrap: str,
    pg_admin: Callable[..., object],
) -> None:
    service.start()
    await service.wait_ready()
    await _until(lambda: _current(postgres_dsn, pg_schema), lambda s: s.get("kafka") == "healthy", 30)

    await asyncio.to_thread(pg_admin, "stop-kafka")
    await _until(lambda: _history(postgres_dsn, pg_schema), lambda h: "unhealthy" in _of("kafka", h), 60)
    await asyncio.to_thread(pg_admin, "stop-postgres", "fast")
    both_down = datetime.now(UTC)
    # Several health rounds see PostgreSQL down while nothing can record the change.
    await asyncio.sleep(4)
    restarting = datetime.now(UTC)
    await asyncio.to_thread(pg_admin, "start-postgres")
    await asyncio.to_thread(pg_admin, "start-kafka", "--keep-data")
    await _until(
        lambda: _history(postgres_dsn, pg_schema), lambda h: _of("kafka", h)[-1:] == ["healthy"], 120
    )
    await _until(lambda: _outbox_pending(postgres_dsn, pg_schema, service_topics.state), lambda n: n == 0, 60)

    code, _ = service.stop()
    assert code == 0, service.log_tail()
    assert "state change not recorded" in service.log_text(), "a change was computed while both were down"
    history = await _history(postgres_dsn, pg_schema)
    on_topic = await _topic_changes(kafka_bootstrap, service_topics.state)
    # The rounds that saw both down changed nothing; a later round, with PostgreSQL back,
    # computed the changes again and recorded them.
    during = [c for c in history if both_down <= datetime.fromisoformat(c[3]) < restarting]
    assert during == [], during
    assert len(set(on_topic)) == len(on_topic)
    assert _by_component(on_topic) == _by_component(history)
