"""postgres_adapter's side of the outbox relay (workflow ``outbox_relay``, trigger ``repeat``).

The relay publishes pending ``onex_outbox`` rows to Kafka, in order per (topic, key), in
three steps: ``claim_outbox_batch`` (here) claims rows in a transaction it leaves open,
kafka_adapter's ``publish_outbox`` sends them, ``mark_outbox_published`` (here) marks
them and commits. The round's ``OutboxRound.aclose()`` rolls the claim back when a step
raised before the commit (the orchestrator's repeat loop calls it in a ``finally``).

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
- the sends of a round have their own budget (``send_budget_seconds``, half the
  PostgreSQL breaker's timeout, carried on the round); the breaker's timeout covers
  the claim and the marking only. A chain not done when the budget runs out is
  cancelled and treated as an outage for its unsent rows, and the rows acknowledged
  so far are marked, so a slow broker never makes a round roll back and publish
  acknowledged rows again;
- a row that fails for another reason counts an attempt and keeps its error;
  after ``max_attempts`` it is parked (``dead_letter``) when ``dead_letter_enabled``,
  otherwise it stays pending and is retried forever, holding its key back. Poison
  is dead-lettered whatever ``dead_letter_enabled`` says, as a poison record of the
  consumer always goes to the DLQ: retrying it can never succeed.

The batch size and ``max_attempts`` come from infrastructure_orchestrator's
``workflow_runtime`` for the environment; ``dead_letter_enabled`` is the Kafka
breaker's policy, set on the round by ``publish_outbox``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from omnibase_infra.workflow.operations import SAME, StepContext, operation
from omnibase_infra.workflow.payloads import ChainResult, OutboxRound, Tick
from omnibase_infra.workflow.protocols import notify

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.clock import Clock
    from omnibase_infra.contract_validation.model_environment_settings import ModelWorkflowRuntimeSettings
    from omnibase_infra.nodes.node_binding import NodeBinding
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.resources import PostgresResources
    from omnibase_infra.workflow.protocols import DbConnection, ProtocolWorkflowObserver

logger = logging.getLogger(__name__)

ORCHESTRATOR = "infrastructure_orchestrator"

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
),
gaps AS (
    SELECT k.topic, k.key, (
        SELECT e.id FROM onex_outbox AS e
        WHERE e.status <> 'published' AND e.topic = k.topic AND e.key = k.key AND e.id < k.last
          AND e.id NOT IN (SELECT id FROM claimed)
        ORDER BY e.id
        LIMIT 1
    ) AS first_gap
    FROM (SELECT topic, key, max(id) AS last FROM claimed WHERE key IS NOT NULL GROUP BY topic, key) AS k
)
SELECT c.id, c.topic, c.key, c.payload, c.headers, c.attempts, c.origin
FROM claimed AS c
LEFT JOIN gaps AS g ON g.topic = c.topic AND g.key = c.key
WHERE g.first_gap IS NULL OR c.id < g.first_gap
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
statement's snapshot. ``gaps`` finds, per claimed key, its first unpublished row this
claim does not hold (below the key's last claimed row), walking the key's unpublished
rows in id order (index ``onex_outbox_unpublished_key``) past the claimed ones; every
claimed row at or after that gap is dropped and the next round takes them in order. The
walk costs about the claimed rows of the key, where comparing every claimed row with
every unclaimed row of its key cost the claim 60 ms for 2,000 of 20,000 pending rows.
Rows without a key have no order and are never dropped.
"""

CUSTOM_PLAN_SQL = "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_bitmapscan = off"
"""Run in the claim's transaction (one round trip): the claim is planned for the table as it is
now, every round, and walks the pending rows in id order, stopping at the batch.

The claim is a prepared statement (asyncpg caches it per connection). After five runs
PostgreSQL may keep a generic plan, costed when it was first built; an idle relay polls
an empty outbox, so that plan was costed for an empty table, and when 20,000 rows
arrived before autovacuum analysed them the claim took 2 s per round instead of 10 ms.
Planning it again each round costs well under a millisecond.

Rows that arrived since the table was last analysed are not in its statistics either: the
planner then expects a few dozen pending rows and reads them all through a bitmap scan,
trying every key's advisory lock and sorting every pending row by id before the ``LIMIT``,
so each round cost as much as all the rows still pending (200 ms for the first 2,000 of
20,000 fresh rows, against 18 ms for the same claim through the index, on a loaded
machine). Without bitmap scans it walks the ``onex_outbox_pending`` index in id order and
stops once the batch is claimed, whatever the statistics say; the marking (``id = ANY``)
uses the primary key either way.
"""

PENDING_SQL = "SELECT count(*) FROM onex_outbox WHERE status = 'pending'"


class _RolledBack(Exception):
    """Handed to the claim's context managers so the transaction rolls back."""


class ClaimedTransaction:
    """``ProtocolRoundTransaction`` over the claim's exit stack (connection, then transaction)."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self._stack = stack

    async def commit(self) -> None:
        await self._stack.aclose()  # commits the claim's transaction, returns the connection

    async def rollback(self) -> None:
        error = _RolledBack("outbox round closed before its marking committed")
        with contextlib.suppress(_RolledBack):
            await self._stack.__aexit__(_RolledBack, error, None)


class OutboxOperations:
    """Mixin of the postgres_adapter node (its ``resources``, ``binding``, clock and observer)."""

    if TYPE_CHECKING:

        @property
        def resources(self) -> PostgresResources: ...
        @property
        def binding(self) -> NodeBinding: ...

        _clock: Clock
        _observer: ProtocolWorkflowObserver | None

    outbox_published_total: int = 0
    outbox_parked_total: int = 0

    def outbox_runtime(self) -> ModelWorkflowRuntimeSettings:
        """The relay's limits: infrastructure_orchestrator's ``workflow_runtime`` here."""
        binding = self.binding
        return binding.contract_set.node(ORCHESTRATOR).workflow_runtime(binding.environment)

    def outbox_send_budget(self) -> float:
        """How long a round's sends may take: half the PostgreSQL breaker's timeout.

        The claim's transaction stays open while the sends run: keep them well inside the
        deadline a PostgreSQL call gets, so the round's marking still has time to commit.
        """
        return self.resources.breaker.config.timeout_seconds / 2

    async def pending_count(self) -> int:
        """Rows of ``onex_outbox`` still pending (the outbox-pending gauge)."""
        async with self.resources.database.acquire_connection() as conn:
            value = await conn.fetchval(PENDING_SQL)
        return int(value or 0)

    @operation(input=Tick, output=OutboxRound)
    async def claim_outbox_batch(self, tick: Tick, step: StepContext) -> OutboxRound:
        """Claim up to ``outbox_batch_size`` rows in a transaction left open for the marking.

        The PostgreSQL breaker (and its ``timeout_seconds``) covers the claim: the connection,
        the transaction it opens and the statement. When the claim fails, the transaction is
        rolled back and the connection returned before the error is raised.
        """
        resources = self.resources
        batch_size = self.outbox_runtime().outbox_batch_size
        stack = contextlib.AsyncExitStack()
        round_ = OutboxRound(
            transaction=ClaimedTransaction(stack), send_budget_seconds=self.outbox_send_budget()
        )

        async def claim() -> tuple[DbConnection, list[asyncpg.Record]]:
            conn = await stack.enter_async_context(resources.database.acquire_connection())
            await stack.enter_async_context(conn.transaction())
            await conn.execute(CUSTOM_PLAN_SQL)
            return conn, list(await conn.fetch(CLAIM_SQL, batch_size))

        try:
            round_.connection, round_.rows = await resources.breaker.call(claim)
        except BaseException:
            await round_.aclose()
            raise
        return round_

    @operation(input=OutboxRound, output=SAME)
    async def mark_outbox_published(self, round_: OutboxRound, step: StepContext) -> OutboxRound:
        """Mark what was acknowledged published, count or park what failed; commit the claim.

        Under the PostgreSQL breaker, as the claim. The round's connection is released
        whatever happens: committed here, or rolled back when the marking raised.
        """
        conn = round_.connection
        if conn is None:
            raise RuntimeError("outbox round has no open claim to mark (already committed or closed)")
        max_attempts = self.outbox_runtime().outbox_max_attempts

        async def mark() -> None:
            await self._mark(conn, round_, max_attempts)
            await round_.commit()  # commits the claim's transaction, returns the connection

        try:
            await self.resources.breaker.call(mark)
        finally:
            await round_.aclose()
        round_.marked = True
        object.__setattr__(self, "outbox_published_total", self.outbox_published_total + round_.published)
        object.__setattr__(self, "outbox_parked_total", self.outbox_parked_total + round_.parked)
        notify(self._observer, "on_relayed", round_.published)
        return round_

    async def _mark(self, conn: DbConnection, round_: OutboxRound, max_attempts: int) -> None:
        """Mark what was acknowledged published, count or park what failed, into ``round_``."""
        results: list[ChainResult] = round_.chains
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
            park = failure.poison or (round_.dead_letter_enabled and attempts >= max_attempts)
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
        round_.published = len(published)
        round_.failed = len(failures)
        round_.parked = parked
        round_.interrupted = interrupted


__all__ = ["CLAIM_SQL", "CUSTOM_PLAN_SQL", "PENDING_SQL", "ClaimedTransaction", "OutboxOperations"]
