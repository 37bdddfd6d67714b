"""``onex-infra outbox status [--limit N] [--json]``: what the outbox relay still has to do.

Reads ``onex_outbox`` in ``POSTGRES_SCHEMA``: rows per status (pending, published,
dead_letter), the age of the oldest pending row, and the first ``--limit`` rows parked
in ``dead_letter`` with their ``last_error`` (``requeue_dead_letter_outbox`` puts one
back). Read-only. Exit 0 when nothing is parked, 1 when dead-letter rows exist or the
table cannot be read (schema not migrated, server down), 3 on a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from omnibase_infra.cli.console import Console, quiet_library_logs
from omnibase_infra.errors import ConfigurationError, InfraError

STATUSES = ("pending", "published", "dead_letter")

_COUNTS_SQL = """
SELECT status, count(*) AS row_count,
       extract(epoch FROM now() - min(created_at)) AS oldest_age_seconds
FROM onex_outbox GROUP BY status
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

    def as_json(self) -> dict[str, object]:
        return {
            "schema": self.schema,
            "counts": {status: self.counts.get(status, 0) for status in STATUSES},
            "oldest_pending_age_seconds": self.oldest_pending_seconds,
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


async def read_status(limit: int) -> OutboxStatus:
    """Query the outbox of the configured schema (only the POSTGRES_* variables are read)."""
    from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
    from omnibase_infra.settings import load_postgres_connection

    config = load_postgres_connection().model_copy(
        update={"min_connections": 0, "max_connections": 1, "application_name": "onex-infra outbox status"}
    )
    schema = config.schema_name
    async with PostgresConnectionManager(config) as manager, manager.acquire_connection() as conn:
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".onex_outbox')
        if not exists:
            raise SchemaNotMigrated(schema)
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
    return status


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
    console.line('requeue one with the `requeue_dead_letter_outbox` operation (parameters: {"id": ID})')


def run_status(args: argparse.Namespace) -> int:
    """Print the outbox status; see the module docstring for exit codes."""
    console = Console()
    quiet_library_logs()
    try:
        status = asyncio.run(read_status(int(args.limit)))
    except ConfigurationError as exc:
        console.error(f"configuration error: {exc}")
        return 3
    except SchemaNotMigrated as exc:
        console.error(f"schema {exc.args[0]!r} has no onex_outbox table: run `onex-infra db migrate`")
        return 1
    except (InfraError, OSError) as exc:
        console.error(str(exc))
        return 1
    if args.json:
        console.json(status.as_json())
    else:
        render(console, status)
    return 1 if status.counts.get("dead_letter") else 0


__all__ = ["OutboxStatus", "read_status", "render", "run_status"]
