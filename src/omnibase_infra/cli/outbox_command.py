"""``onex-infra outbox status|requeue``: what the outbox relay still has to do, and putting rows back.

``status [--limit N] [--json]`` reads ``onex_outbox`` in ``POSTGRES_SCHEMA``: rows per
status (pending, published, dead_letter), the age of the oldest pending row, how many
pending rows wait behind a dead-lettered row of their key (the relay keeps per-key
order, so they are not published until that row is requeued or deleted), and the first
``--limit`` rows parked in ``dead_letter`` with their ``last_error``. Read-only. Exit 0
when nothing is parked, 1 when dead-letter rows exist or the table cannot be read
(schema not migrated, server down), 3 on a configuration error.

``requeue ID [ID...] [--json]`` puts dead-lettered rows back to ``pending`` with their
attempts and error cleared; the relay then publishes them, and the rows of their key
behind them, in id order. Exit 0 when every ID was requeued, 1 when one was not a
``dead_letter`` row (it is named, with its status) or the table cannot be written.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from omnibase_infra.cli.console import Console, quiet_library_logs
from omnibase_infra.errors import ConfigurationError, InfraError

if TYPE_CHECKING:
    from omnibase_infra.workflow.protocols import DbConnection

STATUSES = ("pending", "published", "dead_letter")

_COUNTS_SQL = """
SELECT status, count(*) AS row_count,
       extract(epoch FROM now() - min(created_at)) AS oldest_age_seconds
FROM onex_outbox GROUP BY status
"""
_HELD_SQL = """
SELECT count(*) FROM onex_outbox AS o
WHERE o.status = 'pending' AND EXISTS (
    SELECT 1 FROM onex_outbox AS d WHERE d.status = 'dead_letter'
      AND d.topic = o.topic AND d.key = o.key AND d.id < o.id
)
"""
_REQUEUE_SQL = """
UPDATE onex_outbox SET status = 'pending', attempts = 0, last_error = NULL
WHERE id = ANY($1::bigint[]) AND status = 'dead_letter'
RETURNING id, topic
"""
_DEAD_LETTER_SQL = """
SELECT id, topic, attempts, last_error, created_at
FROM onex_outbox WHERE status = 'dead_letter' ORDER BY id LIMIT $1
"""


@dataclass(frozen=True)
class DeadLetterRow:
    id: int
    topic: str
    attempts: int
    last_error: str | None
    created_at: datetime


@dataclass
class OutboxStatus:
    schema: str
    counts: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float | None = None
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    held_behind_dead_letter: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "schema": self.schema,
            "counts": {status: self.counts.get(status, 0) for status in STATUSES},
            "oldest_pending_age_seconds": self.oldest_pending_seconds,
            "held_behind_dead_letter": self.held_behind_dead_letter,
            "dead_letter": [
                {
                    "id": row.id,
                    "topic": row.topic,
                    "attempts": row.attempts,
                    "last_error": row.last_error,
                    "created_at": row.created_at.isoformat(),
                }
                for row in self.dead_letters
            ],
        }


class SchemaNotMigrated(Exception):
    """The outbox table does not exist in the schema."""


@asynccontextmanager
async def _outbox_connection(command: str) -> AsyncIterator[tuple[str, DbConnection]]:
    """A connection to the configured schema (only the POSTGRES_* variables are read)."""
    from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
    from omnibase_infra.settings import load_postgres_connection

    config = load_postgres_connection().model_copy(
        update={
            "min_connections": 0,
            "max_connections": 1,
            "application_name": f"onex-infra outbox {command}",
        }
    )
    schema = config.schema_name
    async with PostgresConnectionManager(config) as manager, manager.acquire_connection() as conn:
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".onex_outbox')
        if not exists:
            raise SchemaNotMigrated(schema)
        yield schema, conn


async def read_status(limit: int) -> OutboxStatus:
    """Query the outbox of the configured schema."""
    async with _outbox_connection("status") as (schema, conn):
        status = OutboxStatus(schema)
        for row in await conn.fetch(_COUNTS_SQL):
            status.counts[str(row["status"])] = int(row["row_count"])
            if row["status"] == "pending" and row["oldest_age_seconds"] is not None:
                status.oldest_pending_seconds = float(row["oldest_age_seconds"])
        if status.counts.get("dead_letter"):
            status.dead_letters = [
                DeadLetterRow(
                    int(r["id"]), str(r["topic"]), int(r["attempts"]), r["last_error"], r["created_at"]
                )
                for r in await conn.fetch(_DEAD_LETTER_SQL, limit)
            ]
            status.held_behind_dead_letter = int(await conn.fetchval(_HELD_SQL) or 0)
    return status


@dataclass
class RequeueResult:
    """Which rows went back to pending, and why the others did not."""

    schema: str
    requeued: list[tuple[int, str]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "schema": self.schema,
            "requeued": [{"id": i, "topic": t} for i, t in self.requeued],
            "refused": [{"id": i, "reason": r} for i, r in self.refused],
        }


async def requeue(ids: list[int]) -> RequeueResult:
    """Put the ``dead_letter`` rows among ``ids`` back to pending, in one transaction."""
    async with _outbox_connection("requeue") as (schema, conn), conn.transaction():
        done = {int(r["id"]): str(r["topic"]) for r in await conn.fetch(_REQUEUE_SQL, ids)}
        others = {
            int(r["id"]): str(r["status"])
            for r in await conn.fetch("SELECT id, status FROM onex_outbox WHERE id = ANY($1::bigint[])", ids)
        }
    result = RequeueResult(schema)
    for row_id in dict.fromkeys(ids):
        if row_id in done:
            result.requeued.append((row_id, done[row_id]))
        elif row_id in others:
            result.refused.append((row_id, f"status is {others[row_id]}, not dead_letter"))
        else:
            result.refused.append((row_id, "no such row"))
    return result


def age(seconds: float) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 12s``, ``12.3s``."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{seconds:.1f}s"


def render(console: Console, status: OutboxStatus) -> None:
    console.line(f"{console.style('outbox', 'bold')} in schema {status.schema!r}")
    width = max(len(s) for s in STATUSES)
    for name in STATUSES:
        count = status.counts.get(name, 0)
        extra = ""
        if name == "pending" and status.oldest_pending_seconds is not None:
            extra = f"   oldest {age(status.oldest_pending_seconds)} old"
        label = (
            console.style(name.ljust(width), "red") if name == "dead_letter" and count else name.ljust(width)
        )
        console.line(f"  {label}  {count:>8}{extra}")
    parked = status.counts.get("dead_letter", 0)
    if not parked:
        return
    console.line()
    console.line(f"dead-letter rows (first {len(status.dead_letters)} of {parked}):")
    for row in status.dead_letters:
        console.line(
            f"  id {row.id}  {row.topic}  attempts {row.attempts}  since {row.created_at.isoformat()}"
        )
        console.line(f"      last_error: {row.last_error or '-'}")
    if status.held_behind_dead_letter:
        console.line(
            f"{status.held_behind_dead_letter} pending rows wait behind a dead_letter row of their key"
        )
    console.line("fix the cause, then: onex-infra outbox requeue ID [ID...]")


def _run[T](console: Console, work: Coroutine[object, object, T]) -> T | int:
    """``work``'s result, or the exit code of the error it raised (printed)."""
    try:
        return asyncio.run(work)
    except ConfigurationError as exc:
        console.error(f"configuration error: {exc}")
        return 3
    except SchemaNotMigrated as exc:
        console.error(f"schema {exc.args[0]!r} has no onex_outbox table: run `onex-infra db migrate`")
        return 1
    except (InfraError, OSError) as exc:
        console.error(str(exc))
        return 1


def run_status(args: argparse.Namespace) -> int:
    """Print the outbox status; see the module docstring for exit codes."""
    console = Console()
    quiet_library_logs()
    status = _run(console, read_status(int(args.limit)))
    if isinstance(status, int):
        return status
    if args.json:
        console.json(status.as_json())
    else:
        render(console, status)
    return 1 if status.counts.get("dead_letter") else 0


def run_requeue(args: argparse.Namespace) -> int:
    """Requeue dead-lettered rows; see the module docstring for exit codes."""
    console = Console()
    quiet_library_logs()
    result = _run(console, requeue([int(i) for i in args.ids]))
    if isinstance(result, int):
        return result
    if args.json:
        console.json(result.as_json())
    else:
        for row_id, topic in result.requeued:
            console.line(f"requeued id {row_id} ({topic})")
        for row_id, reason in result.refused:
            console.error(f"id {row_id} not requeued: {reason}")
    return 1 if result.refused else 0


__all__ = ["OutboxStatus", "RequeueResult", "read_status", "render", "requeue", "run_requeue", "run_status"]
