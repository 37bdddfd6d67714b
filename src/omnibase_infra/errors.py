"""The one error tree of omnibase_infra.

    InfraError                      root; carries an EnumCoreErrorCode-compatible ``code``
    ├── ConfigurationError          a bad environment variable or setting (names the variable)
    ├── ContractError               a contract file failed validation (file, key path, reason)
    │   └── OverlayError            the configuration overlay failed validation (same shape)
    ├── OutageError                 the server is unreachable or unavailable: counts against a breaker
    │   └── CircuitOpenError        a breaker refused the call without trying it
    ├── PoisonRecordError           the record itself is bad: goes to the DLQ, never trips a breaker
    │   └── TopicNotAllowedError    a publish to a topic no contract declares for that use
    ├── QueueFullError              graceful degradation is off and the event queue is full
    ├── OutboxUnavailableError      an event could be neither published nor stored in the outbox
    ├── LifecycleError              a component used before ``start()`` or after ``stop()``
    ├── UnsupportedRequestError     a request a component deliberately does not take
    └── BackupError                 a backup could not be made or verified (tool, file, restore)

Policy is data: ``counts_against_breaker`` and ``goes_to_dead_letter`` are class
attributes read by the classifier (see ``infrastructure.error_classification``),
never inferred from message text. Messages never carry secrets or DSNs.

The tree does not subclass omnibase-core's ``ModelOnexError`` (a pydantic-backed
exception that costs a heavy import); ``to_onex_error()`` converts at the ONEX
boundary where an ONEX error is required.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from omnibase_core.errors import ModelOnexError


class InfraError(Exception):
    """Root of every error raised by omnibase_infra."""

    counts_against_breaker: ClassVar[bool] = False
    goes_to_dead_letter: ClassVar[bool] = False
    error_class: ClassVar[str] = "infra_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_onex_error(self) -> ModelOnexError:
        """Return the equivalent omnibase-core error (imported lazily)."""
        from omnibase_core.enums.enum_core_error_code import EnumCoreErrorCode
        from omnibase_core.errors import ModelOnexError

        return ModelOnexError(message=self.message, error_code=EnumCoreErrorCode.OPERATION_FAILED)


class ConfigurationError(InfraError):
    """A configuration value is missing or malformed; ``variable`` names it.

    ``problems`` lists every ``(variable, reason)`` pair when several were found at once
    (``load_settings`` reports them together); for a single problem it is just that pair.
    """

    error_class = "configuration_error"

    def __init__(self, variable: str, reason: str, problems: Sequence[tuple[str, str]] | None = None) -> None:
        listed: tuple[tuple[str, str], ...] = tuple(problems) if problems else ((variable, reason),)
        message = (
            f"{variable}: {reason}"
            if len(listed) == 1
            else "; ".join(f"{name}: {why}" for name, why in listed)
        )
        super().__init__(message)
        self.variable = variable
        self.reason = reason
        self.problems = listed


class ContractError(InfraError):
    """One or more contract problems; each names the file, the key path and the reason."""

    error_class = "contract_error"

    heading: ClassVar[str] = "invalid contract"

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        lines = [f"{file}: {path or '<root>'}: {reason}" for file, path, reason in problems]
        super().__init__(f"{self.heading}:\n  " + "\n  ".join(lines))
        self.problems = problems


class OverlayError(ContractError):
    """The configuration overlay (or a contract-value variable with it) is invalid; same shape."""

    heading = "invalid configuration overlay"


class OutageError(InfraError):
    """The dependency is unavailable (connection refused/reset, timeout, SQLSTATE 08/57P01/53300)."""

    counts_against_breaker = True
    error_class = "outage"


class CircuitOpenError(OutageError):
    """The circuit breaker is open and refused the call without attempting it."""

    counts_against_breaker = False
    error_class = "circuit_open"

    def __init__(self, breaker_name: str, retry_after_seconds: float) -> None:
        super().__init__(f"circuit breaker {breaker_name!r} is open; retry in {retry_after_seconds:.1f}s")
        self.breaker_name = breaker_name
        self.retry_after_seconds = retry_after_seconds


class PoisonRecordError(InfraError):
    """The record cannot be processed however often it is retried; it belongs in the DLQ."""

    goes_to_dead_letter = True
    error_class = "poison"

    def __init__(self, stage: str, error_class: str, message: str) -> None:
        super().__init__(f"{stage}: {error_class}: {message}")
        self.stage = stage
        self.poison_class = error_class
        self.reason = message


class TopicNotAllowedError(PoisonRecordError):
    """The topic ACL refused a publish: ``topic`` is not declared for ``use``.

    ``use`` is one of ``reply``, ``relay``, ``dead_letter``, ``state``, ``forward``, or
    ``publish`` for a publish that names no use (see group_gateway's ``topic_acl``).
    Retrying never helps, so it is poison; the message names the topic and the use, and
    never anything secret.
    """

    error_class = "topic_not_allowed"

    def __init__(self, topic: str, use: str, reason: str) -> None:
        super().__init__("acl", "TopicNotAllowed", f"topic {topic} is not allowed for {use}: {reason}")
        self.topic = topic
        self.use = use


class QueueFullError(InfraError):
    """The event queue is full and graceful degradation is disabled: the publish is rejected."""

    error_class = "queue_full"


class OutboxUnavailableError(InfraError):
    """An event that must not wait in memory could be neither published nor stored in the outbox.

    Nothing of the event was kept: the caller still holds it (and must not act as if it were sent).
    """

    error_class = "outbox_unavailable"


class LifecycleError(InfraError):
    """A component was used before ``start()`` or after ``stop()``."""

    error_class = "lifecycle_error"


class UnsupportedRequestError(InfraError):
    """A request the component does not take by design (the message names the right entry point)."""

    error_class = "unsupported_request"


class BackupError(InfraError):
    """A database backup could not be made, read or verified; the message names the file or tool."""

    error_class = "backup_error"


__all__ = [
    "BackupError",
    "CircuitOpenError",
    "ConfigurationError",
    "ContractError",
    "InfraError",
    "LifecycleError",
    "OutageError",
    "OutboxUnavailableError",
    "OverlayError",
    "PoisonRecordError",
    "QueueFullError",
    "TopicNotAllowedError",
    "UnsupportedRequestError",
]
