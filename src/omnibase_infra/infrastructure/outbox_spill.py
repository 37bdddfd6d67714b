"""Where the event queue overflows to: the ``onex_outbox`` table (or an in-memory fake).

Three seams, all async:

- ``ProtocolOutboxSpill.spill(events)`` stores events durably, in order, or
  raises; it never stores part of a batch (one transaction).
- ``ProtocolOutboxBacklog.has_pending(topics)`` says whether rows of those
  topics that the service spilled itself (``origin = 'service'``; an application's row,
  which the ACL may refuse and hold forever, never counts) are still pending, i.e.
  not yet published by whoever relays the outbox; a publisher keeps later events of
  the topics behind them until they are.
- ``ProtocolOutboxDrainer.drain(publish, ...)`` publishes pending rows oldest
  first and marks each published only after ``publish`` returned (the broker
  acknowledged). It stops at the first outage, so order is kept. Delivery is
  at-least-once: if the database fails between the broker's ack and the mark,
  the row is published again by the next drain.

``PostgresOutboxSpill`` implements both against
``onex_outbox(id bigserial primary key, topic text, key bytea, payload bytea,
headers jsonb, status text default 'pending', attempts int default 0,
last_error text, created_at timestamptz default now(), published_at timestamptz,
origin text default 'application')``. Every row ``spill`` and ``park`` write has
``origin = 'service'``: the relay takes the state-changed topic only from such rows.
Statuses: ``pending``, ``published``, ``dead_letter``. ``PostgresOutboxSpill.park``
(a dead-letter sink for the event queue) stores a record that failed too often
as a ``dead_letter`` row with its attempts and error, where ``onex-infra outbox
status`` reports it. Headers are stored as a
JSON array of ``[name, base64(value)]`` pairs (``encode_headers``/``decode_headers``).
The DDL in ``create_outbox_table`` is for tests; migrations own the real table.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from omnibase_infra.infrastructure.error_classification import classify_error
from omnibase_infra.infrastructure.event_queue import (
    DeadLetteredEvent,
    Header,
    OutboundEvent,
    OutboxDrainReport,
    StopReason,
)

if TYPE_CHECKING:
    from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager

PublishFn = Callable[[OutboundEvent], Awaitable[object]]
ParkFn = Callable[[OutboundEvent, int, BaseException], Awaitable[None]]
"""Called with the event, its attempt count and the last error when a row is dead-lettered."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ProtocolOutboxSpill(Protocol):
    """Durable overflow for the event queue."""

    async def spill(self, events: Sequence[OutboundEvent]) -> None:
        """Store ``events`` in order, all or none; raise if they could not be stored."""
        ...


@runtime_checkable
class ProtocolOutboxBacklog(Protocol):
    """A spill that knows whether the rows of a topic were published yet."""

    async def has_pending(self, topics: Sequence[str]) -> bool:
        """True while a row of one of ``topics`` is still ``pending``; raises if it cannot tell."""
        ...


class ProtocolOutboxDrainer(Protocol):
    """Publishes what was spilled, oldest first."""

    async def drain(
        self, publish: PublishFn, *, max_attempts: int, park: ParkFn | None, batch_size: int = 100
    ) -> OutboxDrainReport:
        """Publish pending rows until none is left or a publish fails.

        A non-outage failure is retried up to ``max_attempts`` times; then the
        row is parked (``park`` called, status ``dead_letter``) when ``park`` is
        given, else it stays pending and the drain stops (``record_failing``).
        """
        ...


def encode_headers(headers: Sequence[Header]) -> str:
    """Headers as the JSON text stored in ``onex_outbox.headers``."""
    return json.dumps([[name, base64.b64encode(value).decode("ascii")] for name, value in headers])


def decode_headers(stored: str | None) -> tuple[Header, ...]:
    """The inverse of ``encode_headers`` (``None`` or ``[]`` give no headers).

    Raises ``ValueError`` naming what is wrong when ``stored`` is not a JSON array of
    ``[name, base64 value]`` string pairs (e.g. a JSON object an application inserted).
    """
    if not stored:
        return ()
    try:
        parsed = json.loads(stored)
    except ValueError as exc:
        raise ValueError(f"headers are not JSON ({exc})") from None
    if not isinstance(parsed, list):
        raise ValueError(
            f"headers must be a JSON array of [name, base64 value] pairs, not a JSON {_json_kind(parsed)}"
        )
    decoded: list[Header] = []
    for index, pair in enumerate(parsed):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ValueError(
                f"headers[{index}] must be a [name, base64 value] pair of strings, "
                f"not {json.dumps(pair)[:80]}"
            )
        try:
            value = base64.b64decode(pair[1], validate=True)
        except binascii.Error:
            raise ValueError(f"headers[{index}] ({pair[0][:80]}): the value is not base64") from None
        decoded.append((pair[0], value))
    return tuple(decoded)


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "null"


def quote_identifier(name: str) -> str:
    """``"name"`` for a plain identifier; raises ``ValueError`` for anything else."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


async def create_outbox_table(
    manager: PostgresConnectionManager, schema: str = "public", table: str = "onex_outbox"
) -> None:
    """Create the schema and the outbox table if missing (tests; migrations own production DDL)."""
    qualified = f"{quote_identifier(schema)}.{quote_identifier(table)}"
    await manager.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    await manager.execute(
        f"""CREATE TABLE IF NOT EXISTS {qualified} (
            id bigserial PRIMARY KEY,
            topic text NOT NULL,
            key bytea,
            payload bytea NOT NULL,
            headers jsonb NOT NULL DEFAULT '[]'::jsonb,
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'dead_letter')),
            attempts int NOT NULL DEFAULT 0,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz,
            origin text NOT NULL DEFAULT 'application' CHECK (origin IN ('application', 'service'))
        )"""
    )


class PostgresOutboxSpill:
    """``ProtocolOutboxSpill`` and ``ProtocolOutboxDrainer`` over asyncpg (see module docstring)."""

    def __init__(
        self, manager: PostgresConnectionManager, *, schema: str = "public", table: str = "onex_outbox"
    ) -> None:
        self._manager = manager
        self._table = f"{quote_identifier(schema)}.{quote_identifier(table)}"

    async def spill(self, events: Sequence[OutboundEvent]) -> None:
        if not events:
            return
        rows = [(e.topic, e.key, e.value, encode_headers(e.headers)) for e in events]
        async with self._manager.acquire_connection() as connection, connection.transaction():
            await connection.executemany(
                f"INSERT INTO {self._table} (topic, key, payload, headers, origin) "
                "VALUES ($1, $2, $3, $4::jsonb, 'service')",
                rows,
            )

    async def has_pending(self, topics: Sequence[str]) -> bool:
        """True while a row the service spilled to one of ``topics`` is ``pending`` (the backlog)."""
        if not topics:
            return False
        return bool(
            await self._manager.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {self._table} WHERE status = 'pending' "
                "AND origin = 'service' AND topic = ANY($1::text[]))",
                list(topics),
            )
        )

    async def park(self, record: DeadLetteredEvent) -> None:
        """Store ``record`` as a ``dead_letter`` row (``ProtocolDeadLetterSink``); raise if not stored."""
        event = record.event
        await self._manager.execute(
            f"INSERT INTO {self._table} (topic, key, payload, headers, status, attempts, last_error, origin) "
            "VALUES ($1, $2, $3, $4::jsonb, 'dead_letter', $5, $6, 'service')",
            event.topic,
            event.key,
            event.value,
            encode_headers(event.headers),
            record.attempts,
            f"{record.error_class}: {record.error_message}"[:500],
        )

    async def pending_count(self) -> int:
        """Rows waiting to be published."""
        value = await self._manager.fetchval(f"SELECT count(*) FROM {self._table} WHERE status = 'pending'")
        return int(value)

    async def drain(
        self, publish: PublishFn, *, max_attempts: int, park: ParkFn | None, batch_size: int = 100
    ) -> OutboxDrainReport:
        recovered = failed = parked = 0
        stopped: StopReason = "drained"
        while stopped == "drained":
            batch_recovered, batch_failed, batch_parked, stopped, seen = await self._drain_batch(
                publish, max_attempts, park, batch_size
            )
            recovered += batch_recovered
            failed += batch_failed
            parked += batch_parked
            if seen == 0:
                break
        return OutboxDrainReport(
            recovered=recovered,
            failed=failed,
            dead_lettered=parked,
            remaining=await self.pending_count(),
            stopped=stopped,
        )

    async def _drain_batch(
        self, publish: PublishFn, max_attempts: int, park: ParkFn | None, batch_size: int
    ) -> tuple[int, int, int, StopReason, int]:
        recovered = failed = parked = 0
        stopped: StopReason = "drained"
        published: list[int] = []
        async with self._manager.acquire_connection() as connection, connection.transaction():
            rows = await connection.fetch(
                f"SELECT id, topic, key, payload, headers::text AS headers, attempts FROM {self._table} "
                "WHERE status = 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                batch_size,
            )
            for row in rows:
                event = OutboundEvent(
                    row["topic"], bytes(row["payload"] or b""), row["key"], decode_headers(row["headers"])
                )
                attempts = int(row["attempts"])
                while True:
                    try:
                        await publish(event)
                    except Exception as exc:
                        verdict = classify_error(exc)
                        if verdict.is_outage:
                            stopped = "circuit_open" if not verdict.counts_against_breaker else "outage"
                            break
                        attempts += 1
                        failed += 1
                        error = f"{verdict.error_class} ({verdict.rule})"
                        if attempts < max_attempts:
                            continue
                        if park is not None:
                            await park(event, attempts, exc)
                            await connection.execute(
                                f"UPDATE {self._table} SET status = 'dead_letter', attempts = $2, "
                                "last_error = $3 WHERE id = $1",
                                row["id"],
                                attempts,
                                error,
                            )
                            parked += 1
                            break
                        await connection.execute(
                            f"UPDATE {self._table} SET attempts = $2, last_error = $3 WHERE id = $1",
                            row["id"],
                            attempts,
                            error,
                        )
                        stopped = "record_failing"
                        break
                    else:
                        published.append(int(row["id"]))
                        recovered += 1
                        break
                if stopped != "drained":
                    break
            if published:
                await connection.execute(
                    f"UPDATE {self._table} SET status = 'published', published_at = now() WHERE id = ANY($1)",
                    published,
                )
        return recovered, failed, parked, stopped, len(rows)


class InMemoryOutbox:
    """A list-backed ``ProtocolOutboxSpill`` + ``ProtocolOutboxDrainer`` for tests; same rules."""

    def __init__(self) -> None:
        self.pending: list[OutboundEvent] = []
        self.published: list[OutboundEvent] = []
        self.dead_letter: list[OutboundEvent] = []
        self.fail_spill_with: BaseException | None = None

    async def spill(self, events: Sequence[OutboundEvent]) -> None:
        if self.fail_spill_with is not None:
            raise self.fail_spill_with
        self.pending.extend(events)

    async def drain(
        self, publish: PublishFn, *, max_attempts: int, park: ParkFn | None, batch_size: int = 100
    ) -> OutboxDrainReport:
        recovered = failed = parked = 0
        while self.pending:
            event = self.pending[0]
            attempts = 0
            while True:
                try:
                    await publish(event)
                except Exception as exc:
                    verdict = classify_error(exc)
                    if verdict.is_outage:
                        stopped: StopReason = (
                            "circuit_open" if not verdict.counts_against_breaker else "outage"
                        )
                        return OutboxDrainReport(recovered, failed, parked, len(self.pending), stopped)
                    attempts += 1
                    failed += 1
                    if attempts < max_attempts:
                        continue
                    if park is None:
                        return OutboxDrainReport(
                            recovered, failed, parked, len(self.pending), "record_failing"
                        )
                    await park(event, attempts, exc)
                    self.dead_letter.append(self.pending.pop(0))
                    parked += 1
                    break
                else:
                    self.published.append(self.pending.pop(0))
                    recovered += 1
                    break
        return OutboxDrainReport(recovered, failed, parked, 0, "drained")


__all__ = [
    "InMemoryOutbox",
    "ParkFn",
    "PostgresOutboxSpill",
    "ProtocolOutboxBacklog",
    "ProtocolOutboxDrainer",
    "ProtocolOutboxSpill",
    "PublishFn",
    "create_outbox_table",
    "decode_headers",
    "encode_headers",
    "quote_identifier",
]
