"""PostgresAuditSink against the real PostgreSQL: batches land in onex_audit with every column."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from omnibase_infra.observability.audit import (
    AuditEvent,
    AuditEventType,
    AuditOutcome,
    AuditSeverity,
    ModelAuditDetails,
)
from omnibase_infra.observability.audit_postgres import PostgresAuditSink, create_audit_table


def _event(n: int, correlation: uuid.UUID | None) -> AuditEvent:
    return AuditEvent(
        event_type=AuditEventType.DEAD_LETTER if n % 2 else AuditEventType.DATA_ACCESS,
        severity=AuditSeverity.HIGH if n % 2 else AuditSeverity.LOW,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        correlation_id=correlation,
        resource=f"resource-{n}",
        action="run_operation",
        outcome=AuditOutcome.SUCCESS,
        details=ModelAuditDetails(
            trace_id="ab" * 16, span_id="cd" * 8, environment="development", extras={"n": str(n)}
        ),
    )


async def test_events_are_inserted_in_batches_with_every_column(postgres_dsn: str, pg_schema: str) -> None:
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
    try:
        await create_audit_table(pool, pg_schema)
        sink = PostgresAuditSink(pool, schema=pg_schema, batch_size=100, flush_interval=0.05)
        await sink.start()
        correlation = uuid.uuid4()
        sink.write([_event(n, correlation if n % 3 == 0 else None) for n in range(250)])
        await sink.stop()
        assert sink.written == 250 and sink.pending == 0

        columns = "id, occurred_at, event_type, severity, correlation_id, resource, action, outcome, details"
        rows = await pool.fetch(f'SELECT {columns} FROM "{pg_schema}".onex_audit ORDER BY id')
        assert len(rows) == 250
        assert [r["resource"] for r in rows] == [f"resource-{n}" for n in range(250)]
        first, second = rows[0], rows[1]
        assert first["occurred_at"] == datetime(2026, 1, 1, tzinfo=UTC)
        assert (first["event_type"], first["severity"], first["outcome"]) == ("data_access", "low", "success")
        assert (second["event_type"], second["severity"]) == ("dead_letter", "high")
        assert first["correlation_id"] == correlation and second["correlation_id"] is None
        details = json.loads(first["details"])
        assert details == {
            "trace_id": "ab" * 16,
            "span_id": "cd" * 8,
            "environment": "development",
            "extras": {"n": "0"},
        }
        jsonb_query = f"SELECT count(*) FROM \"{pg_schema}\".onex_audit WHERE details->'extras'->>'n' = '7'"
        assert await pool.fetchval(jsonb_query) == 1
    finally:
        await pool.close()


async def test_events_written_during_an_outage_arrive_after_it(postgres_dsn: str, pg_schema: str) -> None:
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=1)
    try:
        sink = PostgresAuditSink(pool, schema=pg_schema, batch_size=10, flush_interval=60)
        sink.write([_event(n, None) for n in range(5)])
        with pytest.raises(asyncpg.UndefinedTableError):
            await sink.flush()  # the table does not exist yet: the insert fails
        assert sink.pending == 5
        await create_audit_table(pool, pg_schema)
        assert await sink.flush() == 5
        assert await pool.fetchval(f'SELECT count(*) FROM "{pg_schema}".onex_audit') == 5
    finally:
        await pool.close()
