"""Workflow 3: publish pending ``onex_outbox`` rows to Kafka, in order per (topic, key).

Guarantees:
- a row is marked ``published`` only after the broker acknowledged it, in the
  same transaction that claimed it; a crash before the mark re-publishes it
  (at-least-once, never lost). A row that fails never takes the round down with
  it: the rows acknowledged in the round are marked whatever happened to the
  others, so no round publishes an acknowledged row again;
- order per key, where a key is the pair (topic, key), as Kafka orders per
  partition of a topic: rows are claimed in id order under ``FOR UPDATE SKIP LOCKED``
  together with a transaction-level advisory lock on the pair's hash, so several
  relays (in one process or many) never publish two rows of one key at once,
  and within a relay the rows of a key are sent one after another; a row that
  fails stops the rest of its key for this round;
- a poison row, one that can never be published, is isolated at once: status
  ``dead_letter`` with ``last_error`` naming what is wrong. Poison is: headers
  that are not a JSON array of ``[name, base64 value]`` pairs, a topic the topic
  ACL refuses (``require_relayable``: the state-changed topic only for rows with
  ``origin = 'service'``, those the service spilled itself), a topic that does not exist on the
  brokers (asked without creating it, within a bounded wait), a record the
  broker refuses (too large). Later rows of that key stay ``pending`` and are
  not claimed while an earlier row of the key is ``dead_letter``: requeueing
  the row (``onex-infra outbox requeue ID``) or deleting it lets the key go on.
  Rows without a key have no order and never wait: each is a chain of its own
  (a failing one stops nothing else) and takes no advisory lock;
- an outage (broker unavailable, breaker open) stops the round without counting
  attempts: rows stay pending until the broker is back; nothing is dead-lettered;
- the sends of a round have their own budget (``send_budget_seconds``, below the
  PostgreSQL breaker's timeout); the breaker's timeout covers the claim and the
  marking only. A chain not done when the budget runs out is cancelled and treated
  as an outage for its unsent rows, and the rows acknowledged so far are marked, so
  a slow broker never makes a round roll back and publish acknowledged rows again;
- a row that fails for another reason counts an attempt and keeps its error;
  after ``max_attempts`` it is parked (``dead_letter``) when ``dead_letter_enabled``,
  otherwise it stays pending and is retried forever, holding its key back. Poison
  is dead-lettered whatever ``dead_letter_enabled`` says, as a poison record of the
  consumer always goes to the DLQ: retrying it can never succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.infrastructure.outbox_spill import decode_headers
from omnibase_infra.workflow.protocols import (
    Headers,
    ProtocolConnectionSource,
    ProtocolGuard,
    ProtocolRecordPublisher,
    ProtocolTopicAcl,
    ProtocolTopicDirectory,
)

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.workflow.protocols import DbConnection

logger = logging.getLogger(__name__)

STAGE = "outbox"
MAX_ERROR_CHARS = 500

CLAIM_SQL = """
WITH claimed AS (
    SELECT id, topic, key, payload, headers, attempts, origin
    FROM onex_outbox AS o
    WHERE status = 'pending'
      AND NOT EXISTS (
          SELECT 1 FROM onex_outbox AS d
          WHERE d.status = 'dead_letter' AND d.topic = o.topic AND d.key = o.key AND d.id < o.id
      )
      AND CASE WHEN key IS NULL THEN true
               ELSE pg_try_advisory_xact_lock(hashtextextended(topic || ':' || encode(key, 'hex'), 7))
          END
    ORDER BY id
    LIMIT $1
    FOR UPDATE OF o SKIP LOCKED
)
SELECT c.id, c.topic, c.key, c.payload, c.headers, c.attempts, c.origin
FROM claimed AS c
WHERE NOT EXISTS (
    SELECT 1 FROM onex_outbox AS e
    WHERE e.status <> 'published' AND e.topic = c.topic AND e.key = c.key AND e.id < c.id
      AND e.id NOT IN (SELECT id FROM claimed)
)
ORDER BY c.id
"""
"""Pending rows in id order, none behind a dead-lettered row of its key, one relay per key.

A "key" here is the pair (topic, key): Kafka orders per partition of a topic, so rows of
one key on two topics have no order between them and never hold each other back. The
advisory lock hashes ``topic:hex(key)`` (topic names cannot hold ``:``); a row without a
key takes no lock at all, as it has no order to keep.

The key's advisory lock is tried row by row while the scan runs, so another relay may
release it half-way: the scan can then skip an earlier row of the key (locked at that
moment) and take later ones, or take rows whose earlier row was dead-lettered after the
statement's snapshot. The outer check drops every claimed row that has an unpublished
row of its key before it that this claim does not hold; the next round takes them in
order. Rows without a key have no order and are never dropped.
"""


@dataclass(frozen=True)
class RelayReport:
    published: int
    failed: int
    parked: int
    interrupted: bool


@dataclass(frozen=True)
class RowFailure:
    """Why a row was not published; ``poison`` rows are parked at once."""

    reason: str
    poison: bool


@dataclass
class ChainResult:
    """One key's rows of a round: the ids acknowledged, the row that failed, an outage."""

    published: list[int]
    failed: list[tuple[asyncpg.Record, RowFailure]]
    outage: bool


def _error_text(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, PoisonRecordError) else f"{type(exc).__name__}: {exc}"
    # PostgreSQL text cannot hold NUL; a message quoting bad data could.
    return text.replace("\x00", "\\0")[:MAX_ERROR_CHARS]


class OutboxRelay:
    """Relays the outbox; see the module docstring for the guarantees."""

    def __init__(
        self,
        database: ProtocolConnectionSource,
        database_guard: ProtocolGuard,
        publisher: ProtocolRecordPublisher,
        publish_guard: ProtocolGuard,
        *,
        topic_acl: ProtocolTopicAcl | None = None,
        topics: ProtocolTopicDirectory | None = None,
        batch_size: int = 500,
        max_attempts: int = 5,
        dead_letter_enabled: bool = True,
        idle_interval_seconds: float = 0.5,
        send_budget_seconds: float = 15.0,
        clock: Clock = SYSTEM_CLOCK,
        observe: Callable[[RelayReport], None] | None = None,
    ) -> None:
        self._database = database
        self._db_guard = database_guard
        self._publisher = publisher
        self._publish_guard = publish_guard
        self._acl = topic_acl
        self._topics = topics
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._dead_letter_enabled = dead_letter_enabled
        self._idle_interval = idle_interval_seconds
        self._send_budget = send_budget_seconds
        self._clock = clock
        self._observe = observe
        self.published_total = 0
        self.parked_total = 0

    async def pending_count(self) -> int:
        async with self._database.acquire_connection() as conn:
            value = await conn.fetchval("SELECT count(*) FROM onex_outbox WHERE status = 'pending'")
        return int(value or 0)

    async def relay_once(self) -> RelayReport:
        """Claim up to ``batch_size`` rows, publish them, mark them; return what happened.

        The database guard (and its ``timeout_seconds``) covers the SQL only: the claim
        (with the connection and the transaction it opens) and the marking (with the
        commit). The sends between them are bounded by ``send_budget_seconds``, so a slow
        broker never rolls back a round whose acknowledged rows were already sent.
        """
        async with contextlib.AsyncExitStack() as stack:

            async def claim() -> tuple[DbConnection, list[asyncpg.Record]]:
                conn = await stack.enter_async_context(self._database.acquire_connection())
                await stack.enter_async_context(conn.transaction())
                return conn, list(await conn.fetch(CLAIM_SQL, self._batch_size))

            conn, rows = await self._db_guard.call(claim)
            results = await self._publish_rows(rows)

            async def mark() -> RelayReport:
                marked = await self._mark(conn, results)
                await stack.aclose()  # commits the claim's transaction, returns the connection
                return marked

            report = await self._db_guard.call(mark)
        self.published_total += report.published
        self.parked_total += report.parked
        if self._observe is not None:
            self._observe(report)
        return report

    async def _relay(self, conn: DbConnection) -> RelayReport:
        """One round on ``conn`` (already in a transaction): claim, publish, mark."""
        rows = await conn.fetch(CLAIM_SQL, self._batch_size)
        return await self._mark(conn, await self._publish_rows(rows))

    async def _publish_rows(self, rows: list[asyncpg.Record]) -> list[ChainResult]:
        """Publish the claimed rows, chains side by side, within ``send_budget_seconds``.

        A chain still sending when the budget runs out is cancelled and counts as an
        outage for its unsent rows (no attempt counted, they stay pending); what it got
        acknowledged before is kept in its result and marked.
        """
        chains: dict[tuple[str, bytes] | int, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            # A keyless row has no order: it is a chain of its own and waits for nobody.
            key: bytes | None = row["key"]
            chains[int(row["id"]) if key is None else (row["topic"], key)].append(row)
        results = [ChainResult([], [], False) for _ in chains]
        tasks = [
            asyncio.ensure_future(self._publish_chain(chain, result))
            for chain, result in zip(chains.values(), results, strict=True)
        ]
        if not tasks:
            return results
        _, late = await asyncio.wait(tasks, timeout=self._send_budget)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if task in late:
                result.outage = True
            elif (error := task.exception()) is not None:
                raise error
        if late:
            logger.warning(
                "outbox relay: %d chain(s) not done within the send budget of %.1f s; "
                "their unsent rows stay pending",
                len(late),
                self._send_budget,
            )
        return results

    async def _mark(self, conn: DbConnection, results: list[ChainResult]) -> RelayReport:
        """Mark what was acknowledged published, count or park what failed."""
        published = [row_id for result in results for row_id in result.published]
        failures = [failure for result in results for failure in result.failed]
        interrupted = any(result.outage for result in results)
        if published:
            await conn.execute(
                "UPDATE onex_outbox SET status = 'published', published_at = now() "
                "WHERE id = ANY($1::bigint[])",
                published,
            )
        parked = 0
        for row, failure in failures:
            attempts = int(row["attempts"]) + 1
            park = failure.poison or (self._dead_letter_enabled and attempts >= self._max_attempts)
            parked += int(park)
            if park:
                logger.warning(
                    "outbox row %s (topic %s) moved to dead_letter: %s",
                    row["id"],
                    row["topic"],
                    failure.reason,
                )
            await conn.execute(
                "UPDATE onex_outbox SET attempts = $2, last_error = $3, "
                "status = CASE WHEN $4 THEN 'dead_letter' ELSE status END WHERE id = $1",
                row["id"],
                attempts,
                failure.reason,
                park,
            )
        return RelayReport(len(published), len(failures), parked, interrupted)

    async def _publish_chain(
        self, chain: list[asyncpg.Record], result: ChainResult | None = None
    ) -> ChainResult:
        """Send one chain's rows in order into ``result``; stop at the first one not acknowledged."""
        result = ChainResult([], [], False) if result is None else result
        for row in chain:
            try:
                headers = await self._prepare(row)

                async def send(row: asyncpg.Record = row, headers: Headers = headers) -> tuple[int, int]:
                    return await self._publisher.send(
                        row["topic"], bytes(row["payload"]), key=row["key"], headers=headers
                    )

                await self._publish_guard.call(send)
            except Exception as exc:
                if is_outage(exc):
                    result.outage = True
                else:
                    poison = isinstance(exc, PoisonRecordError)
                    result.failed.append((row, RowFailure(_error_text(exc), poison)))
                return result
            result.published.append(int(row["id"]))
        return result

    async def _prepare(self, row: asyncpg.Record) -> Headers:
        """The row's headers, once its topic and headers passed; ``PoisonRecordError`` otherwise."""
        topic: str = row["topic"]
        if self._acl is not None:
            self._acl.require_relayable(topic, service_row=row["origin"] == "service")
        try:
            headers = list(decode_headers(row["headers"]))
        except ValueError as exc:
            raise PoisonRecordError(STAGE, "MalformedHeaders", str(exc)) from None
        if self._topics is not None:
            directory = self._topics

            async def exists() -> bool:
                return await directory.topic_exists(topic)

            if not await self._publish_guard.call(exists):
                raise PoisonRecordError(
                    STAGE,
                    "UnknownTopic",
                    f"topic {topic} does not exist on the brokers (the relay never creates topics)",
                )
        return headers

    async def run(self, stopping: asyncio.Event) -> None:
        """Relay until ``stopping`` is set; idle briefly when nothing moved or on outage."""
        while not stopping.is_set():
            try:
                report = await self.relay_once()
            except Exception as exc:
                if not is_outage(exc):
                    logger.error("outbox relay round failed", exc_info=exc)
                report = RelayReport(0, 0, 0, True)
            if report.published + report.parked == 0 or report.interrupted:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self._idle_interval)


__all__ = ["CLAIM_SQL", "ChainResult", "OutboxRelay", "RelayReport", "RowFailure"]
