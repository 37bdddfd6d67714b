"""Consecutive read-only commands of a batch, run without a transaction each (``ReadSession``).

A read-only command used to cost five round trips: ``BEGIN READ ONLY``, the prelude
(``SET LOCAL statement_timeout`` and the inbox lookup), the statement, ``COMMIT``, and the
pool's reset when the connection went back. A run of read-only commands now shares one
connection and costs, in all, one round trip that sets the session's ``statement_timeout`` and
``default_transaction_read_only = on`` and looks the inbox up for every command of the
run, then one round trip per command (its statement alone: an implicit transaction that is
read-only and under the statement timeout, exactly as before). The pool's own reset when the
connection goes back (``RESET ALL``, a round trip it makes anyway) puts both settings back; a
``RESET`` of its own (``end``) runs only before failed replies are kept. A connection that
joins the run (``join``) sets them without the lookup.

Pipelined reads (``prefetch``): a connection of the run takes up to ``reads_per_round_trip``
commands at a time and sends the statements of those that name the same operation to
PostgreSQL together, in one round trip (asyncpg's ``fetchmany``: one Bind/Execute per command,
one Sync), each statement wrapped as ``SELECT onex_q.*, $n+1::int4 AS onex_pipeline_index FROM
(the operation's statement) AS onex_q`` so that each row's last column names the command it was
read for. Each statement
still runs alone under the session's statement timeout and sees the data committed when it
starts (READ COMMITTED takes a snapshot per statement, also within the pipeline's implicit
transaction). Any error of the pipeline (a command's own, an outage, the client-side timeout
over the whole group) keeps nothing: ``read`` then runs those commands one by one as before,
and that is where an error is classified, and the operation is not pipelined again in that
run (``one_by_one``); a statement that cannot be wrapped (not a query, or with a ``;``) runs
alone too. Nothing is prefetched while the PostgreSQL breaker refuses calls.

What a command is answered is unchanged (``OperationExecutor``): a reply kept in the
inbox is sent again as it is; a refusal, a statement error, a timeout or a result without a
JSON form is a failed reply, and failed replies are kept in ``onex_inbox`` once the
settings are reset (``finish``), before any reply of the batch is published. Outages raise.
Session settings need a session per pooled connection whose release resets it (asyncpg's
pool: ``RESET ALL``), as the cached prepared statements already do (no transaction-pooling
proxy).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import (
    OperationExecutor,
    PlannedCommand,
    ProtocolOperation,
    failure_of,
    traced_statement,
)
from omnibase_infra.workflow.records import OperationOutcome

if TYPE_CHECKING:
    from omnibase_infra.workflow.protocols import DbConnection

logger = logging.getLogger(__name__)

# The session settings of a read run and the replies kept for its commands, in one round trip.
# A NULL timeout keeps the session's statement timeout.
_READ_SETTINGS = (
    "set_config('statement_timeout', COALESCE({}::text, current_setting('statement_timeout')), false), "
    "set_config('default_transaction_read_only', 'on', false)"
)
BEGIN_READS_SQL = (
    f"SELECT {_READ_SETTINGS.format('$2')}, i.envelope_id, i.reply_topic, i.reply "
    "FROM (VALUES (1)) AS one LEFT JOIN onex_inbox AS i ON i.envelope_id = ANY($1::uuid[])"
)
JOIN_READS_SQL = f"SELECT {_READ_SETTINGS.format('$1')}"
END_READS_SQL = "RESET statement_timeout; RESET default_transaction_read_only"

PIPELINE_INDEX = "onex_pipeline_index"
"""The column a pipelined statement adds: which command of its group the row was read for."""
_QUERY_WORDS = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})


def pipelined_sql(operation: ProtocolOperation) -> str | None:
    """``operation``'s statement with the command's index as its last column (``$n+1``), or
    ``None`` when it cannot be a subquery (not a query; a ``;``)."""
    sql = operation.sql.strip()
    words = sql.split(None, 1)
    if not words or words[0].upper() not in _QUERY_WORDS or ";" in sql:
        return None
    index = len(operation.parameter_names) + 1
    # The new line ends a trailing comment of the statement before the parenthesis.
    return f"SELECT onex_q.*, ${index}::int4 AS {PIPELINE_INDEX} FROM ({sql}\n) AS onex_q"


type Row = Mapping[str, object]


@dataclass
class ReadSession:
    """The read-only commands of one run (consecutive in their batch) and their answers."""

    executor: OperationExecutor
    kept: dict[uuid.UUID, tuple[str, bytes]] = field(default_factory=dict)
    to_keep: list[tuple[PlannedCommand, OperationOutcome]] = field(default_factory=list)
    prefetched: dict[uuid.UUID, list[Row]] = field(default_factory=dict)
    """Rows read by ``prefetch``, by the command's envelope_id, until ``read`` answers it."""
    one_by_one: set[str] = field(default_factory=set)
    """Operations whose pipeline failed in this run: the rest of the run reads them one by one
    (a group that timed out, or cannot run as a subquery, is not tried again)."""

    async def begin(self, conn: DbConnection, commands: list[PlannedCommand]) -> None:
        """Set the session up for reads and look up the replies kept for ``commands``."""
        ids = [c.request.envelope_id for c in commands]
        rows = await conn.fetch(BEGIN_READS_SQL, ids, self.executor.statement_timeout)
        for row in rows:
            if row["envelope_id"] is not None:
                self.kept[row["envelope_id"]] = (row["reply_topic"], bytes(row["reply"]))

    async def join(self, conn: DbConnection) -> None:
        """Set up one more connection of the run (no lookup: ``begin`` did it for all)."""
        await conn.execute(JOIN_READS_SQL, self.executor.statement_timeout)

    async def prefetch(self, conn: DbConnection, chunk: Sequence[PlannedCommand]) -> None:
        """Read the statements of ``chunk`` ahead, one round trip per operation named by two or
        more of its commands; rows kept for ``read``. Any error keeps nothing (``read`` runs
        those commands alone and classifies it); cancellation propagates."""
        groups: dict[str, list[PlannedCommand]] = {}
        for planned in chunk:
            if planned.refusal is None and planned.request.envelope_id not in self.kept:
                groups.setdefault(planned.operation.name, []).append(planned)
        for name, group in groups.items():
            sql = (
                pipelined_sql(group[0].operation) if len(group) > 1 and name not in self.one_by_one else None
            )
            if sql is None:
                continue
            found: list[list[Row]] = [[] for _ in group]
            try:
                rows = await conn.fetchmany(sql, [[*p.arguments, i] for i, p in enumerate(group)])
                for row in rows:
                    # The index is the last column, taken by position: the statement may have
                    # a column of that name too (a name lookup would take the last of them).
                    *columns, (_, index) = row.items()
                    found[index].append(dict(columns))
            except Exception as exc:
                self.one_by_one.add(name)
                # Class and SQLSTATE only: an error's message may quote a parameter's value.
                logger.debug(
                    "pipelined reads of %s run one by one: %s (SQLSTATE %s)",
                    name,
                    type(exc).__name__,
                    getattr(exc, "sqlstate", None) or "-",
                )
                continue
            for planned, its_rows in zip(group, found, strict=True):
                self.prefetched[planned.request.envelope_id] = its_rows

    async def read(self, conn: DbConnection, planned: PlannedCommand) -> OperationOutcome:
        """The answer to one read-only command; raises only for outages (and configuration errors)."""
        executor, request, operation = self.executor, planned.request, planned.operation
        kept = self.kept.get(request.envelope_id)
        if kept is not None:
            return executor.kept(request, *kept)
        if planned.refusal is not None:
            return self._failed(planned, executor.failure(request, operation.name, planned.refusal))
        prefetched = self.prefetched.pop(request.envelope_id, None)
        try:
            async with traced_statement(operation, request):
                if prefetched is None:
                    rows = await conn.fetch(operation.sql, *planned.arguments)
                    reply_id, value = executor.completed(request, operation, rows)
                else:
                    reply_id, value = executor.completed(request, operation, prefetched)
        except Exception as exc:
            error = failure_of(exc)
        else:
            return OperationOutcome(executor.completed_topic, value, reply_id, False, None)
        return self._failed(planned, executor.failure(request, operation.name, error))

    def _failed(self, planned: PlannedCommand, outcome: OperationOutcome) -> OperationOutcome:
        self.to_keep.append((planned, outcome))
        return outcome

    @staticmethod
    async def end(conn: DbConnection) -> None:
        """Put the session's settings back (the pool's reset on release does it too)."""
        await conn.execute(END_READS_SQL)

    async def finish(self, conn: DbConnection) -> None:
        """Keep the run's failed replies in the inbox: ``conn``'s settings reset first (``end``),
        then one insert each. Nothing to keep, no round trip."""
        if not self.to_keep:
            return
        await self.end(conn)
        for planned, outcome in self.to_keep:
            await self.executor.keep_failed(conn, planned.request, planned.operation.name, outcome)
        self.to_keep.clear()


__all__ = [
    "BEGIN_READS_SQL",
    "END_READS_SQL",
    "JOIN_READS_SQL",
    "PIPELINE_INDEX",
    "ReadSession",
    "pipelined_sql",
]
