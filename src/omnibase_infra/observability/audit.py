"""The audit trail: who did what to which resource, with which outcome, in which trace.

``AuditLogger.record`` builds an ``AuditEvent`` (trace_id/span_id taken from the current
span, the environment from the logger), writes it to the structured log (logger
``omnibase_infra.audit``, one line per event, the event's fields as extras; LOW events, a
successful operation each, at DEBUG, MEDIUM at INFO, HIGH and CRITICAL at WARNING) and hands
every event, whatever the log level, to a ``ProtocolAuditSink``. Recording never blocks on
I/O and never raises because of the sink: a sink accepts events into a bounded buffer and
persists them in the background (``audit_postgres.PostgresAuditSink``). The helpers cover
what the service must audit: every operation run, every dead-letter record, every breaker
transition.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypedDict
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic_core import to_jsonable_python

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.observability.logging import current_correlation_id, current_trace_ids

if TYPE_CHECKING:
    from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition


class AuditEventType(StrEnum):
    """What kind of thing happened."""

    DATA_ACCESS = "data_access"
    DATABASE_QUERY = "database_query"
    DATA_MODIFICATION = "data_modification"
    DEAD_LETTER = "dead_letter"
    CIRCUIT_BREAKER = "circuit_breaker"
    CONFIGURATION = "configuration"
    SECURITY = "security"


class AuditSeverity(StrEnum):
    """How much an operator should care."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AuditOutcome(StrEnum):
    """How it ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class ModelAuditDetails(BaseModel):
    """Context of an audit event; ``extras`` holds further string facts (no secrets, no payloads)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trace_id: str | None = None
    span_id: str | None = None
    environment: str | None = None
    extras: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _facts_into_extras(cls, data: object) -> object:
        """Accept the original guide's flat ``details={...}``: other keys become string ``extras``.

        ``None`` values are dropped; an explicit ``extras`` is kept and wins over a flat key.
        """
        if not isinstance(data, Mapping):
            return data
        known = {"trace_id", "span_id", "environment", "extras"}
        flat = {str(k): str(v) for k, v in data.items() if k not in known and v is not None}
        if not flat:
            return data
        fields = {k: v for k, v in data.items() if k in known}
        fields["extras"] = {**flat, **dict(fields.get("extras") or {})}
        return fields


class AuditEvent(BaseModel):
    """One audit record; maps one-to-one onto a row of ``onex_audit``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: AuditEventType
    severity: AuditSeverity
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: UUID | None = None
    resource: str = Field(min_length=1)
    action: str = Field(min_length=1)
    outcome: AuditOutcome
    details: ModelAuditDetails = Field(default_factory=ModelAuditDetails)


class ProtocolAuditSink(Protocol):
    """Where audit events are persisted."""

    def write(self, events: Sequence[AuditEvent]) -> None:
        """Accept ``events`` without blocking on I/O; never raise for a persistence failure."""
        ...


class InMemoryAuditSink:
    """Keeps every event in ``events`` (tests and the in-memory runtime)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def write(self, events: Sequence[AuditEvent]) -> None:
        self.events.extend(events)


def _correlation(value: UUID | str | None) -> UUID | None:
    if value is None:
        value = current_correlation_id()
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except ValueError:
        return None


class _EventFields(TypedDict):
    """``AuditEvent``'s fields but ``details``: one typed set for both ways ``record`` builds it."""

    event_type: AuditEventType
    severity: AuditSeverity
    occurred_at: datetime
    correlation_id: UUID | None
    resource: str
    action: str
    outcome: AuditOutcome


class _DetailFields(TypedDict):
    trace_id: str | None
    span_id: str | None
    environment: str | None
    extras: dict[str, str]


def _valid_as_given(
    event_type: object,
    severity: object,
    outcome: object,
    resource: object,
    action: object,
    occurred_at: object,
    facts: Mapping[str, object],
) -> bool:
    """Whether ``AuditEvent``'s validation would take these values as they are (no coercion)."""
    return (
        type(event_type) is AuditEventType
        and type(severity) is AuditSeverity
        and type(outcome) is AuditOutcome
        and type(resource) is str
        and type(action) is str
        and bool(resource)
        and bool(action)
        and type(occurred_at) is datetime
        and all(type(k) is str and type(v) is str for k, v in facts.items())
    )


def audit_details_json(details: ModelAuditDetails) -> dict[str, JsonValue]:
    """``details.model_dump(mode="json")``, built directly (the same dict)."""
    return {
        "trace_id": details.trace_id,
        "span_id": details.span_id,
        "environment": details.environment,
        "extras": dict(details.extras),
    }


def audit_event_json(event: AuditEvent) -> dict[str, JsonValue]:
    """``event.model_dump(mode="json")``, built directly (the same dict; what the log line holds)."""
    correlation_id = event.correlation_id
    return {
        "event_type": event.event_type.value,
        "severity": event.severity.value,
        "occurred_at": to_jsonable_python(event.occurred_at),
        "correlation_id": None if correlation_id is None else str(correlation_id),
        "resource": event.resource,
        "action": event.action,
        "outcome": event.outcome.value,
        "details": audit_details_json(event.details),
    }


_LOG_LEVELS: Mapping[AuditSeverity, int] = {
    AuditSeverity.LOW: logging.DEBUG,
    AuditSeverity.MEDIUM: logging.INFO,
    AuditSeverity.HIGH: logging.WARNING,
    AuditSeverity.CRITICAL: logging.WARNING,
}
"""The level of an event's log line. LOW (a successful operation, one per command) is DEBUG:
every event is in the sink (``onex_audit``) whatever the level, and at INFO a busy bus would
otherwise write one line per command it answers."""


class AuditLogger:
    """Builds, logs and sinks audit events.

    ``sink`` may be ``None`` (log only). ``correlation_id`` defaults to the one of the current
    ``correlation_scope``; a correlation id that is not a UUID is kept in ``details.extras``.
    """

    def __init__(
        self,
        sink: ProtocolAuditSink | None,
        *,
        environment: str,
        clock: Clock = SYSTEM_CLOCK,
        logger: logging.Logger | None = None,
    ) -> None:
        self._sink = sink
        self._environment = environment
        self._clock = clock
        self._log = logger or logging.getLogger("omnibase_infra.audit")

    def record(
        self,
        event_type: AuditEventType,
        severity: AuditSeverity,
        *,
        resource: str,
        action: str,
        outcome: AuditOutcome,
        correlation_id: UUID | str | None = None,
        extras: Mapping[str, str] | None = None,
    ) -> AuditEvent:
        """Record one event and return it; see the class docstring for defaults."""
        trace_id, span_id = current_trace_ids()
        facts = dict(extras or {})
        parsed = _correlation(correlation_id)
        if parsed is None and correlation_id is not None:
            facts["correlation_id"] = str(correlation_id)
        occurred_at = self._clock.now()
        fields = _EventFields(
            event_type=event_type,
            severity=severity,
            occurred_at=occurred_at,
            correlation_id=parsed,
            resource=resource,
            action=action,
            outcome=outcome,
        )
        details = _DetailFields(
            trace_id=trace_id, span_id=span_id, environment=self._environment, extras=facts
        )
        if _valid_as_given(event_type, severity, outcome, resource, action, occurred_at, facts):
            # What validation would accept unchanged: built without it (one record per command).
            event = AuditEvent.model_construct(**fields, details=ModelAuditDetails.model_construct(**details))
        else:
            event = AuditEvent(**fields, details=ModelAuditDetails(**details))
        self._emit(event)
        return event

    async def log_event(self, event: AuditEvent) -> AuditEvent:
        """Record an event built by the caller (the original guide's form); return what was recorded.

        Details the caller left unset are filled as ``record`` fills them: the current span's
        trace_id/span_id and this logger's environment. Never blocks on I/O (awaitable for the
        guide's ``await audit_logger.log_event(event)``).
        """
        trace_id, span_id = current_trace_ids()
        details = event.details
        filled = details.model_copy(
            update={
                "trace_id": details.trace_id or trace_id,
                "span_id": details.span_id or span_id,
                "environment": details.environment or self._environment,
            }
        )
        recorded = event.model_copy(update={"details": filled})
        self._emit(recorded)
        return recorded

    def _emit(self, event: AuditEvent) -> None:
        level = _LOG_LEVELS[event.severity]
        if self._log.isEnabledFor(level):
            self._log.log(
                level,
                "audit %s %s %s: %s",
                event.event_type.value,
                event.action,
                event.resource,
                event.outcome.value,
                extra={"audit": audit_event_json(event)},
            )
        if self._sink is not None:
            self._sink.write([event])

    def record_operation(
        self,
        operation: str,
        *,
        read_only: bool,
        outcome: AuditOutcome,
        correlation_id: UUID | str | None = None,
        error_class: str | None = None,
    ) -> AuditEvent:
        """Audit one contract operation run (DATA_ACCESS when read-only, else DATA_MODIFICATION)."""
        extras = {"error_class": error_class} if error_class else {}
        return self.record(
            AuditEventType.DATA_ACCESS if read_only else AuditEventType.DATA_MODIFICATION,
            AuditSeverity.LOW if outcome is AuditOutcome.SUCCESS else AuditSeverity.MEDIUM,
            resource=operation,
            action="run_operation",
            outcome=outcome,
            correlation_id=correlation_id,
            extras=extras,
        )

    def record_dead_letter(
        self,
        topic: str,
        *,
        partition: int,
        offset: int,
        stage: str,
        error_class: str,
        correlation_id: UUID | str | None = None,
    ) -> AuditEvent:
        """Audit one record sent to ``<topic>.dlq`` (HIGH: data was not applied)."""
        return self.record(
            AuditEventType.DEAD_LETTER,
            AuditSeverity.HIGH,
            resource=topic,
            action="dead_letter",
            outcome=AuditOutcome.FAILURE,
            correlation_id=correlation_id,
            extras={
                "partition": str(partition),
                "offset": str(offset),
                "stage": stage,
                "error_class": error_class,
            },
        )

    def record_breaker_transition(self, transition: ModelCircuitBreakerTransition) -> None:
        """Audit a breaker transition; usable as an ``EventBusCircuitBreaker`` listener.

        Opening is HIGH, a forced open CRITICAL, anything else MEDIUM.
        """
        if transition.to_state == "forced_open":
            severity = AuditSeverity.CRITICAL
        elif transition.to_state == "open":
            severity = AuditSeverity.HIGH
        else:
            severity = AuditSeverity.MEDIUM
        self.record(
            AuditEventType.CIRCUIT_BREAKER,
            severity,
            resource=transition.name,
            action=f"{transition.from_state}->{transition.to_state}",
            outcome=AuditOutcome.SUCCESS,
            extras={"reason": transition.reason, "at": transition.at.isoformat()},
        )


__all__ = [
    "AuditEvent",
    "AuditEventType",
    "AuditLogger",
    "AuditOutcome",
    "AuditSeverity",
    "InMemoryAuditSink",
    "ModelAuditDetails",
    "ProtocolAuditSink",
    "audit_details_json",
    "audit_event_json",
]
