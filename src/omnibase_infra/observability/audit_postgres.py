"""``PostgresAuditSink``: audit events buffered in memory and inserted into ``onex_audit`` in batches.

Table (owned by the service's migrations; ``create_audit_table`` makes it for tests)::

    onex_audit(id bigserial pk, occurred_at timestamptz, event_type text, severity text,
               correlation_id uuid null, resource text, action text, outcome text, details jsonb)

Guarantees:

- ``write`` never blocks and never raises: events go into a bounded buffer
  (``max_buffered``); a background task inserts them every ``flush_interval`` seconds, or at
  once when ``batch_size`` events are waiting, one ``INSERT ... SELECT FROM unnest(...)``
  statement per batch (one round trip, one transaction).
- Events are inserted in the order they were written. A failed batch stays at the head of
  the buffer and is retried on the next flush (so an outage loses nothing that fits in
  the buffer); beyond ``max_buffered`` the oldest events are dropped, counted in
  ``dropped`` and reported in the log, never silently.
- ``stop()`` flushes what it can and is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from omnibase_infra.errors import LifecycleError
from omnibase_infra.observability.audit import AuditEvent, audit_details_json
from omnibase_infra.observability.redaction import dumps_redacted

AUDIT_TABLE = "onex_audit"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_log = logging.getLogger(__name__)


class ProtocolAuditExecutor(Protocol):
    """What the sink needs from asyncpg: a pool or a connection (``execute`` with ``$n`` args)."""

    async def execute(self, query: str, *args: object) -> str: ...


def qualified_audit_table(schema: str) -> str:
    """``"schema".onex_audit``; ``ValueError`` for a schema name that is not a plain identifier."""
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return f'"{schema}".{AUDIT_TABLE}'


def audit_table_ddl(schema: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the audit table (the same columns as the migration)."""
    return f"""
CREATE TABLE IF NOT EXISTS {qualified_audit_table(schema)} (
    id              bigserial   PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    event_type      text        NOT NULL,
    severity        text        NOT NULL,
    correlation_id  uuid,
    resource        text        NOT NULL,
    action          text        NOT NULL,
    outcome         text        NOT NULL,
    details         jsonb       NOT NULL DEFAULT '{{}}'::jsonb
)"""


async def create_audit_table(executor: ProtocolAuditExecutor, schema: str) -> None:
    """Create the audit table in ``schema`` when missing (tests; production uses the migrations)."""
    await executor.execute(audit_table_ddl(schema))


def _insert_statement(schema: str) -> str:
    return (
        f"INSERT INTO {qualified_audit_table(schema)} "
        "(occurred_at, event_type, severity, correlation_id, resource, action, outcome, details) "
        "SELECT o, e, s, c, r, a, x, d::jsonb FROM unnest("
        "$1::timestamptz[], $2::text[], $3::text[], $4::uuid[], "
        "$5::text[], $6::text[], $7::text[], $8::text[]"
        ") AS t(o, e, s, c, r, a, x, d)"
    )


class PostgresAuditSink:
    """Buffers audit events and inserts them into ``<schema>.onex_audit`` (see the module docstring)."""

    def __init__(
        self,
        executor: ProtocolAuditExecutor,
        *,
        schema: str = "public",
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_buffered: int = 10_000,
    ) -> None:
        if batch_size < 1 or max_buffered < batch_size or flush_interval <= 0:
            raise ValueError("need batch_size >= 1, max_buffered >= batch_size and flush_interval > 0")
        self._executor = executor
        self._statement = _insert_statement(schema)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._buffer: deque[AuditEvent] = deque()
        self._max_buffered = max_buffered
        self._flush_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.dropped = 0
        self._dropped_reported = 0
        self.written = 0

    @property
    def pending(self) -> int:
        """Events accepted but not yet inserted."""
        return len(self._buffer)

    def write(self, events: Sequence[AuditEvent]) -> None:
        """Buffer ``events``; wake the flusher once a batch is full. Never blocks or raises."""
        self._buffer.extend(events)
        overflow = len(self._buffer) - self._max_buffered
        for _ in range(max(overflow, 0)):
            self._buffer.popleft()
            self.dropped += 1
        if len(self._buffer) >= self._batch_size:
            self._wakeup.set()

    async def start(self) -> None:
        """Start the background flusher; a second call does nothing. ``LifecycleError`` after ``stop()``."""
        if self._stopped:
            raise LifecycleError("PostgresAuditSink was stopped")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-sink-flusher")

    async def stop(self) -> None:
        """Stop the flusher and flush what is buffered (failures are logged); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush_logged()

    async def flush(self) -> int:
        """Insert everything buffered now, in batches; return the number inserted.

        Raises what the database raised; the batch that failed and everything after it stay
        buffered, in order.
        """
        inserted = 0
        async with self._flush_lock:
            self._report_dropped()
            while self._buffer:
                batch = [self._buffer[i] for i in range(min(self._batch_size, len(self._buffer)))]
                await self._executor.execute(self._statement, *_columns(batch))
                for _ in batch:
                    self._buffer.popleft()
                inserted += len(batch)
                self.written += len(batch)
        return inserted

    def _report_dropped(self) -> None:
        if self.dropped > self._dropped_reported:
            _log.error(
                "audit buffer full: %d audit events dropped (oldest first)",
                self.dropped - self._dropped_reported,
                extra={"audit_events_dropped_total": self.dropped},
            )
            self._dropped_reported = self.dropped

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # the sink must outlive database outages
            _log.warning(
                "audit flush failed; %d events kept for retry: %s",
                len(self._buffer),
                type(exc).__name__,
            )

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._flush_interval)
            self._wakeup.clear()
            await self._flush_logged()


def _columns(batch: Sequence[AuditEvent]) -> tuple[list[object], ...]:
    occurred: list[object] = []
    types: list[object] = []
    severities: list[object] = []
    correlations: list[object] = []
    resources: list[object] = []
    actions: list[object] = []
    outcomes: list[object] = []
    details: list[object] = []
    for event in batch:
        occurred.append(event.occurred_at)
        types.append(event.event_type.value)
        severities.append(event.severity.value)
        correlations.append(event.correlation_id)
        resources.append(event.resource)
        actions.append(event.action)
        outcomes.append(event.outcome.value)
        details.append(dumps_redacted(audit_details_json(event.details), separators=(",", ":")))
    return occurred, types, severities, correlations, resources, actions, outcomes, details


__all__ = [
    "AUDIT_TABLE",
    "PostgresAuditSink",
    "ProtocolAuditExecutor",
    "audit_table_ddl",
    "create_audit_table",
    "qualified_audit_table",
]
