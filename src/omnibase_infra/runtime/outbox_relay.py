"""Workflow 3: publish pending ``onex_outbox`` rows to Kafka, in order per key.

Guarantees:
- a row is marked ``published`` only after the broker acknowledged it, in the
  same transaction that claimed it; a crash before the mark re-publishes it
  (at-least-once, never lost);
- order per key: rows are claimed in id order under ``FOR UPDATE SKIP LOCKED``
  together with a transaction-level advisory lock on the key's hash, so several
  relays (in one process or many) never publish two rows of one key at once,
  and within a relay the rows of a key are sent one after another; a row that
  fails stops the rest of its key for this round;
- an outage (broker unavailable, breaker open) stops the round without counting
  attempts: rows stay pending until the broker is back;
- a row that fails for another reason (e.g. too large) counts an attempt and
  keeps its error; after ``max_attempts`` it is parked (status ``dead_letter``)
  when dead-lettering is enabled, otherwise it stays pending and is retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.infrastructure.outbox_spill import decode_headers
from omnibase_infra.runtime.protocols import (
    ProtocolConnectionSource,
    ProtocolGuard,
    ProtocolRecordPublisher,
)

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.runtime.protocols import DbConnection

logger = logging.getLogger(__name__)

CLAIM_SQL = """
SELECT id, topic, key, payload, headers, attempts
FROM onex_outbox
WHERE status = 'pending'
  AND pg_try_advisory_xact_lock(hashtextextended(coalesce(encode(key, 'hex'), ''), 7))
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True)
class RelayReport:
    published: int
    failed: int
    parked: int
    interrupted: bool


class _Outage(Exception):
    """Internal: a key's chain stopped because the broker is unavailable."""


class OutboxRelay:
    """Relays the outbox; see the module docstring for the guarantees."""

    def __init__(
        self,
        database: ProtocolConnectionSource,
        database_guard: ProtocolGuard,
        publisher: ProtocolRecordPublisher,
        publish_guard: ProtocolGuard,
        *,
        batch_size: int = 500,
        max_attempts: int = 5,
        dead_letter_enabled: bool = True,
        idle_interval_seconds: float = 0.5,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._database = database
        self._db_guard = database_guard
        self._publisher = publisher
        self._publish_guard = publish_guard
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._dead_letter_enabled = dead_letter_enabled
        self._idle_interval = idle_interval_seconds
        self._clock = clock
        self.published_total = 0
        self.parked_total = 0

    async def pending_count(self) -> int:
        async with self._database.acquire_connection() as conn:
            value = await conn.fetchval("SELECT count(*) FROM onex_outbox WHERE status = 'pending'")
        return int(value or 0)

    async def relay_once(self) -> RelayReport:
        """Claim up to ``batch_size`` rows, publish them, mark them; return what happened."""

        async def round_trip() -> RelayReport:
            async with self._database.acquire_connection() as conn, conn.transaction():
                return await self._relay(conn)

        report = await self._db_guard.call(round_trip)
        self.published_total += report.published
        self.parked_total += report.parked
        return report

    async def _relay(self, conn: DbConnection) -> RelayReport:
        rows = await conn.fetch(CLAIM_SQL, self._batch_size)
        chains: dict[bytes | None, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            chains[row["key"]].append(row)
        results = await asyncio.gather(*(self._publish_chain(chain) for chain in chains.values()))
        published = [row_id for ok, _, _ in results for row_id in ok]
        failures = [(row, err) for _, failed, _ in results for row, err in failed]
        interrupted = any(outage for _, _, outage in results)
        if published:
            await conn.execute(
                "UPDATE onex_outbox SET status = 'published', published_at = now() "
                "WHERE id = ANY($1::bigint[])",
                published,
            )
        parked = 0
        for row, error in failures:
            attempts = int(row["attempts"]) + 1
            park = self._dead_letter_enabled and attempts >= self._max_attempts
            parked += int(park)
            await conn.execute(
                "UPDATE onex_outbox SET attempts = $2, last_error = $3, "
                "status = CASE WHEN $4 THEN 'dead_letter' ELSE status END WHERE id = $1",
                row["id"],
                attempts,
                error,
                park,
            )
        return RelayReport(len(published), len(failures), parked, interrupted)

    async def _publish_chain(
        self, chain: list[asyncpg.Record]
    ) -> tuple[list[int], list[tuple[asyncpg.Record, str]], bool]:
        published: list[int] = []
        for row in chain:
            headers = list(decode_headers(row["headers"]))

            async def send(
                row: asyncpg.Record = row, headers: list[tuple[str, bytes]] = headers
            ) -> tuple[int, int]:
                return await self._publisher.send(
                    row["topic"], bytes(row["payload"]), key=row["key"], headers=headers
                )

            try:
                await self._publish_guard.call(send)
            except Exception as exc:
                if is_outage(exc):
                    return published, [], True
                return published, [(row, f"{type(exc).__name__}: {exc}"[:500])], False
            published.append(int(row["id"]))
        return published, [], False

    async def run(self, stopping: asyncio.Event) -> None:
        """Relay until ``stopping`` is set; idle briefly when nothing is pending or on outage."""
        while not stopping.is_set():
            try:
                report = await self.relay_once()
            except Exception as exc:
                if not is_outage(exc):
                    logger.error("outbox relay round failed", exc_info=exc)
                report = RelayReport(0, 0, 0, True)
            if report.published == 0 or report.interrupted:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self._idle_interval)


__all__ = ["CLAIM_SQL", "OutboxRelay", "RelayReport"]
