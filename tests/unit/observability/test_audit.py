"""AuditEvent, AuditLogger and the buffered PostgresAuditSink (against a fake executor)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import LifecycleError
from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition
from omnibase_infra.observability.audit import (
    AuditEvent,
    AuditEventType,
    AuditLogger,
    AuditOutcome,
    AuditSeverity,
    InMemoryAuditSink,
    ModelAuditDetails,
    audit_details_json,
    audit_event_json,
)
from omnibase_infra.observability.audit_postgres import (
    PostgresAuditSink,
    audit_table_ddl,
    qualified_audit_table,
)
from omnibase_infra.observability.logging import configure_logging, correlation_scope
from omnibase_infra.observability.redaction import register_secret


def _event(n: int = 0) -> AuditEvent:
    return AuditEvent(
        event_type=AuditEventType.DATA_ACCESS,
        severity=AuditSeverity.LOW,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        resource=f"op-{n}",
        action="run_operation",
        outcome=AuditOutcome.SUCCESS,
    )


def test_audit_event_is_strict() -> None:
    with pytest.raises(ValidationError):
        AuditEvent.model_validate({**_event().model_dump(), "unexpected": 1})
    with pytest.raises(ValidationError):
        ModelAuditDetails.model_validate({"extras": {"n": 1}})  # extras are str -> str
    with pytest.raises(ValidationError):
        AuditEvent.model_validate({**_event().model_dump(), "resource": ""})
    assert {t.value for t in AuditEventType} >= {
        "data_access",
        "data_modification",
        "dead_letter",
        "circuit_breaker",
        "configuration",
    }
    assert [s.value for s in AuditSeverity] == ["low", "medium", "high", "critical"]


def test_record_takes_trace_correlation_and_environment_from_context(
    provider: TracerProvider, restore_root_logger: logging.Logger
) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream)
    sink = InMemoryAuditSink()
    clock = FakeClock()
    audit = AuditLogger(sink, environment="staging", clock=clock)
    correlation = uuid.uuid4()
    with correlation_scope(correlation), provider.get_tracer("t").start_as_current_span("op") as span:
        event = audit.record(
            AuditEventType.DATA_MODIFICATION,
            AuditSeverity.MEDIUM,
            resource="insert_item",
            action="run_operation",
            outcome=AuditOutcome.SUCCESS,
            extras={"rows": "1"},
        )
        context = span.get_span_context()
    assert sink.events == [event]
    assert event.correlation_id == correlation
    assert event.occurred_at == clock.now()
    assert event.details == ModelAuditDetails(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        environment="staging",
        extras={"rows": "1"},
    )
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["logger"] == "omnibase_infra.audit"
    assert line["audit"]["resource"] == "insert_item"
    assert line["audit"]["details"]["trace_id"] == f"{context.trace_id:032x}"
    assert line["correlation_id"] == str(correlation)


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (AuditSeverity.LOW, "DEBUG"),
        (AuditSeverity.MEDIUM, "INFO"),
        (AuditSeverity.HIGH, "WARNING"),
        (AuditSeverity.CRITICAL, "WARNING"),
    ],
)
@pytest.mark.parametrize("configured", ["DEBUG", "INFO"])
def test_the_log_lines_level_follows_the_severity_and_the_sink_gets_every_event(
    severity: AuditSeverity, level: str, configured: str, restore_root_logger: logging.Logger
) -> None:
    stream = io.StringIO()
    configure_logging(configured, stream)
    sink = InMemoryAuditSink()
    event = AuditLogger(sink, environment="production").record(
        AuditEventType.DATA_ACCESS,
        severity,
        resource="get_item",
        action="run_operation",
        outcome=AuditOutcome.SUCCESS,
    )
    assert sink.events == [event]
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    if level == "DEBUG" and configured == "INFO":
        assert lines == []
    else:
        (line,) = lines
        assert line["level"] == level
        assert line["audit"]["severity"] == severity.value


def test_non_uuid_correlation_is_kept_in_extras() -> None:
    sink = InMemoryAuditSink()
    event = AuditLogger(sink, environment="dev").record(
        AuditEventType.CONFIGURATION,
        AuditSeverity.LOW,
        resource="r",
        action="a",
        outcome=AuditOutcome.SUCCESS,
        correlation_id="req-17",
    )
    assert event.correlation_id is None
    assert event.details.extras["correlation_id"] == "req-17"


def test_helpers_cover_operations_dead_letters_and_transitions() -> None:
    sink = InMemoryAuditSink()
    audit = AuditLogger(sink, environment="production")
    audit.record_operation("get_item", read_only=True, outcome=AuditOutcome.SUCCESS)
    audit.record_operation("put_item", read_only=False, outcome=AuditOutcome.FAILURE, error_class="outage")
    audit.record_dead_letter("onex.evt.a.v1", partition=2, offset=41, stage="decode", error_class="json")
    audit.record_breaker_transition(
        ModelCircuitBreakerTransition(
            name="kafka",
            from_state="closed",
            to_state="open",
            reason="failure_threshold_reached",
            at=datetime.now(UTC),
        )
    )
    summary = [(e.event_type, e.severity, e.resource, e.action, e.outcome) for e in sink.events]
    assert summary == [
        (AuditEventType.DATA_ACCESS, AuditSeverity.LOW, "get_item", "run_operation", AuditOutcome.SUCCESS),
        (
            AuditEventType.DATA_MODIFICATION,
            AuditSeverity.MEDIUM,
            "put_item",
            "run_operation",
            AuditOutcome.FAILURE,
        ),
        (
            AuditEventType.DEAD_LETTER,
            AuditSeverity.HIGH,
            "onex.evt.a.v1",
            "dead_letter",
            AuditOutcome.FAILURE,
        ),
        (AuditEventType.CIRCUIT_BREAKER, AuditSeverity.HIGH, "kafka", "closed->open", AuditOutcome.SUCCESS),
    ]
    assert sink.events[2].details.extras == {
        "partition": "2",
        "offset": "41",
        "stage": "decode",
        "error_class": "json",
    }
    assert sink.events[1].details.extras == {"error_class": "outage"}


class FakeExecutor:
    """Records statements; fails while ``down`` is set."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.down = False

    async def execute(self, query: str, *args: object) -> str:
        if self.down:
            raise ConnectionRefusedError("database down")
        self.calls.append((query, args))
        return "INSERT 0 n"


async def test_sink_inserts_in_batches_and_in_order() -> None:
    executor = FakeExecutor()
    sink = PostgresAuditSink(executor, schema="audit_s", batch_size=3, flush_interval=60)
    sink.write([_event(i) for i in range(7)])
    assert sink.pending == 7 and executor.calls == []
    assert await sink.flush() == 7
    assert [len(args[0]) for _, args in executor.calls] == [3, 3, 1]  # type: ignore[arg-type]
    resources = [r for _, args in executor.calls for r in args[4]]  # type: ignore[attr-defined]
    assert resources == [f"op-{i}" for i in range(7)]
    statement = executor.calls[0][0]
    assert statement.startswith('INSERT INTO "audit_s".onex_audit ')
    assert "unnest(" in statement
    assert sink.written == 7 and sink.pending == 0


async def test_sink_keeps_events_through_an_outage_and_counts_drops() -> None:
    executor = FakeExecutor()
    sink = PostgresAuditSink(executor, batch_size=2, max_buffered=4, flush_interval=60)
    executor.down = True
    sink.write([_event(i) for i in range(3)])
    with pytest.raises(ConnectionRefusedError):
        await sink.flush()
    assert sink.pending == 3
    sink.write([_event(3), _event(4)])
    assert sink.dropped == 1 and sink.pending == 4
    executor.down = False
    assert await sink.flush() == 4
    resources = [r for _, args in executor.calls for r in args[4]]  # type: ignore[attr-defined]
    assert resources == ["op-1", "op-2", "op-3", "op-4"]


async def test_sink_flushes_in_the_background_and_on_stop() -> None:
    executor = FakeExecutor()
    sink = PostgresAuditSink(executor, batch_size=2, flush_interval=60)
    await sink.start()
    await sink.start()  # idempotent
    sink.write([_event(0), _event(1)])  # a full batch wakes the flusher
    for _ in range(100):
        if sink.written == 2:
            break
        await asyncio.sleep(0.01)
    assert sink.written == 2
    sink.write([_event(2)])
    await sink.stop()
    await sink.stop()
    assert sink.written == 3
    with pytest.raises(LifecycleError):
        await sink.start()


async def test_sink_redacts_details() -> None:
    register_secret("leaky-secret")
    executor = FakeExecutor()
    sink = PostgresAuditSink(executor)
    event = _event().model_copy(update={"details": ModelAuditDetails(extras={"note": "leaky-secret"})})
    sink.write([event])
    await sink.flush()
    (_, args) = executor.calls[0]
    assert "leaky-secret" not in str(args[7])


def test_schema_names_are_checked() -> None:
    assert qualified_audit_table("public") == '"public".onex_audit'
    assert "CREATE TABLE IF NOT EXISTS" in audit_table_ddl("t_1234")
    for bad in ('x"; DROP TABLE y; --', "", "1abc", "a.b"):
        with pytest.raises(ValueError, match="invalid schema name"):
            qualified_audit_table(bad)
    with pytest.raises(ValueError):
        PostgresAuditSink(FakeExecutor(), batch_size=0)


async def test_log_event_takes_the_original_guides_event_and_fills_the_context(
    provider: TracerProvider,
) -> None:
    sink = InMemoryAuditSink()
    audit = AuditLogger(sink, environment="production", clock=FakeClock())
    correlation = uuid.uuid4()
    # The original guide's form: a flat details dict, a plain outcome string, no timestamp.
    guide_event = AuditEvent(
        event_type=AuditEventType.DATABASE_QUERY,
        severity=AuditSeverity.MEDIUM,
        correlation_id=correlation,  # type: ignore[arg-type]  # str in the guide, validated to UUID
        resource="postgresql",
        action="SELECT",
        outcome="success",  # type: ignore[arg-type]  # validated to AuditOutcome.SUCCESS
        details={"operation": "SELECT", "trace_id": None, "environment": None, "rows": 3},  # type: ignore[arg-type]
    )
    with provider.get_tracer("t").start_as_current_span("query") as span:
        recorded = await audit.log_event(guide_event)
        context = span.get_span_context()
    assert sink.events == [recorded]
    assert recorded.event_type == "database_query"
    assert recorded.outcome is AuditOutcome.SUCCESS
    assert recorded.correlation_id == correlation
    assert recorded.details == ModelAuditDetails(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        environment="production",
        extras={"operation": "SELECT", "rows": "3"},
    )


async def test_log_event_keeps_what_the_caller_set() -> None:
    sink = InMemoryAuditSink()
    audit = AuditLogger(sink, environment="production", clock=FakeClock())
    event = _event().model_copy(
        update={"details": ModelAuditDetails(trace_id="a" * 32, environment="staging", extras={"k": "v"})}
    )
    recorded = await audit.log_event(event)
    assert recorded.details.trace_id == "a" * 32
    assert recorded.details.environment == "staging"
    assert recorded.details.extras == {"k": "v"}
    assert recorded.occurred_at == event.occurred_at


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(AuditEventType),
    st.sampled_from(AuditSeverity),
    st.sampled_from(AuditOutcome),
    st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(minutes=90))])
    ),
    st.one_of(st.none(), st.uuids()),
    st.text(min_size=1, max_size=8),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.one_of(st.none(), st.text(max_size=8)),
)
def test_the_log_lines_audit_dict_is_the_models_json_dump(
    event_type: AuditEventType,
    severity: AuditSeverity,
    outcome: AuditOutcome,
    occurred_at: datetime,
    correlation_id: uuid.UUID | None,
    resource: str,
    extras: dict[str, str],
    trace_id: str | None,
) -> None:
    event = AuditEvent(
        event_type=event_type,
        severity=severity,
        occurred_at=occurred_at,
        correlation_id=correlation_id,
        resource=resource,
        action="run_operation",
        outcome=outcome,
        details=ModelAuditDetails(trace_id=trace_id, environment="production", extras=extras),
    )
    assert audit_event_json(event) == event.model_dump(mode="json")
    assert json.dumps(audit_event_json(event)) == json.dumps(event.model_dump(mode="json"))
    assert audit_details_json(event.details) == event.details.model_dump(mode="json")


@pytest.mark.parametrize("advance", [0.0, 0.123456])
def test_record_builds_the_event_validation_would_build(advance: float) -> None:
    sink = InMemoryAuditSink()
    clock = FakeClock()
    clock.advance(advance)
    audit = AuditLogger(sink, environment="staging", clock=clock)
    recorded = audit.record_operation(
        "get_event_by_id",
        read_only=True,
        outcome=AuditOutcome.FAILURE,
        correlation_id="not-a-uuid",
        error_class="SQLSTATE 23505",
    )
    validated = AuditEvent.model_validate(recorded.model_dump())
    assert recorded == validated
    assert recorded.model_dump(mode="json") == validated.model_dump(mode="json")
    assert sink.events == [recorded]


def test_record_still_validates_what_it_cannot_take_as_given() -> None:
    audit = AuditLogger(None, environment="production")
    with pytest.raises(ValidationError):
        audit.record(
            AuditEventType.DATA_ACCESS,
            AuditSeverity.LOW,
            resource="",
            action="a",
            outcome=AuditOutcome.SUCCESS,
        )
    with pytest.raises(ValidationError):
        audit.record(
            AuditEventType.DATA_ACCESS,
            AuditSeverity.LOW,
            resource="r",
            action="a",
            outcome=AuditOutcome.SUCCESS,
            extras={"n": 1},  # type: ignore[dict-item]  # extras are str -> str
        )
    coerced = audit.record("data_access", "low", resource="r", action="a", outcome="success")  # type: ignore[arg-type]  # the enums' values, as a caller without the types passes them
    assert coerced.event_type is AuditEventType.DATA_ACCESS
