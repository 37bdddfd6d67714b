"""Classify an exception as an outage, a poison record, or something else.

The classification decides what happens to a failure (docs/architecture.md, "Poison versus outage"):

- ``OUTAGE``: the dependency is unreachable or unavailable. It counts against
  the circuit breaker and the work is retried later; it never goes to the DLQ.
- ``POISON``: the record itself is bad (undecodable, invalid, violates a
  constraint). It goes to the dead-letter path and never trips a breaker.
- ``OTHER``: neither; the caller decides (bugs, misconfiguration, lifecycle).

Rules, first match wins. Only types, attributes and SQLSTATE codes are read,
never message text:

1. ``InfraError``: its class attributes ``counts_against_breaker`` /
   ``goes_to_dead_letter``; a ``CircuitOpenError`` is an outage that is not
   counted (the breaker refused the call; nothing was tried).
2. An ``sqlstate`` attribute (asyncpg's ``PostgresError``): class 08, 53
   (insufficient resources, 53300 too_many_connections among them), 57P01/02/03
   (admin/crash shutdown, cannot connect now), 57014 (query cancelled by a
   timeout) and 58 (system error) are outages; classes 22 (data exception) and
   23 (integrity constraint) are poison; anything else is other. (A command's
   own statement is the exception: the operation executor answers its 57014
   with a failed reply ``timeout`` before it reaches a breaker.)
3. ``TimeoutError`` (``asyncio.TimeoutError`` is the same class) is an outage.
4. ``UnicodeError``, ``json.JSONDecodeError``, pydantic and jsonschema
   validation errors are poison.
5. aiokafka errors: authentication/authorisation failures are other (never
   retried: fix the configuration); record-size/format errors are poison;
   connection, timeout and broker-availability errors, and every error whose
   class says ``retriable = True``, are outages.
6. OS-level network errors (``ConnectionError``, unreachable host/network,
   DNS failure, a TLS stream cut short) are outages; a TLS certificate
   verification failure or a missing file is other (configuration).
7. An exception that matched nothing is classified by its ``__cause__`` (so a
   wrapper raised ``from`` an outage is an outage), up to a small depth.

asyncpg raises a plain ``InterfaceError`` both for misuse and for "connection is
closed"; only the owner of the connection can tell them apart, so
``PostgresConnectionManager`` checks ``connection.is_closed()`` and raises
``OutageError`` itself. Here a bare ``InterfaceError`` is other.

Heavy libraries are never imported by this module: an aiokafka or pydantic
exception can only exist if its module is already in ``sys.modules``.
"""

from __future__ import annotations

import errno
import json
import socket
import ssl
import sys
from dataclasses import dataclass
from enum import StrEnum

from omnibase_infra.errors import CircuitOpenError, InfraError

_MAX_CAUSE_DEPTH = 4

OUTAGE_SQLSTATE_CLASSES: frozenset[str] = frozenset({"08", "53", "58"})
OUTAGE_SQLSTATES: frozenset[str] = frozenset({"57P01", "57P02", "57P03", "57014"})
POISON_SQLSTATE_CLASSES: frozenset[str] = frozenset({"22", "23"})

_NETWORK_ERRNOS: frozenset[int] = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ENETRESET,
        errno.ETIMEDOUT,
        errno.ENOTCONN,
    }
)

_KAFKA_CONFIGURATION_ERRORS: frozenset[str] = frozenset(
    {
        "AuthenticationFailedError",
        "AuthenticationMethodNotSupported",
        "SaslAuthenticationFailed",
        "UnsupportedSaslMechanismError",
        "IllegalSaslStateError",
        "TopicAuthorizationFailedError",
        "ClusterAuthorizationFailedError",
        "GroupAuthorizationFailedError",
        "TransactionalIdAuthorizationFailed",
        "KafkaConfigurationError",
        "SecurityDisabled",
    }
)
_KAFKA_POISON_ERRORS: frozenset[str] = frozenset(
    {
        "MessageSizeTooLargeError",
        "RecordTooLargeError",
        "RecordListTooLargeError",
        "InvalidMessageError",
        "CorruptRecordException",
        "InvalidTimestampError",
    }
)
_KAFKA_OUTAGE_ERRORS: frozenset[str] = frozenset(
    {
        "KafkaConnectionError",
        "KafkaTimeoutError",
        "KafkaUnavailableError",
        "NoBrokersAvailable",
        "BrokerNotAvailableError",
        "NodeNotReadyError",
        "RequestTimedOutError",
        "NotLeaderForPartitionError",
        "LeaderNotAvailableError",
        "NotEnoughReplicasError",
        "NotEnoughReplicasAfterAppendError",
    }
)


class EnumErrorKind(StrEnum):
    """What a failure means for the breaker and the dead-letter path."""

    OUTAGE = "outage"
    POISON = "poison"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ErrorClassification:
    """The verdict on one exception.

    ``counts_against_breaker`` is true only for outages that were actually
    attempted (a ``CircuitOpenError`` is an outage that does not count).
    ``rule`` names the rule that matched, for logs and DLQ headers.
    """

    kind: EnumErrorKind
    counts_against_breaker: bool
    error_class: str
    sqlstate: str | None
    rule: str

    @property
    def is_outage(self) -> bool:
        return self.kind is EnumErrorKind.OUTAGE

    @property
    def is_poison(self) -> bool:
        return self.kind is EnumErrorKind.POISON


def qualified_name(exc: BaseException) -> str:
    """``module.Class`` of an exception, e.g. ``asyncpg.exceptions.DataError``."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def classify_error(exc: BaseException) -> ErrorClassification:
    """Classify ``exc`` by the rules in the module docstring. Never raises."""
    verdict = _classify_one(exc)
    cause = exc.__cause__
    depth = 0
    while verdict is None and cause is not None and depth < _MAX_CAUSE_DEPTH:
        inner = _classify_one(cause)
        if inner is not None:
            kind, counts, rule, sqlstate = inner
            return ErrorClassification(kind, counts, qualified_name(exc), sqlstate, f"cause: {rule}")
        cause = cause.__cause__
        depth += 1
    if verdict is None:
        return ErrorClassification(EnumErrorKind.OTHER, False, qualified_name(exc), None, "unclassified")
    kind, counts, rule, sqlstate = verdict
    return ErrorClassification(kind, counts, qualified_name(exc), sqlstate, rule)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the dependency is unavailable (see ``classify_error``)."""
    return classify_error(exc).is_outage


def is_poison(exc: BaseException) -> bool:
    """True when ``exc`` means the record itself is bad and belongs in the DLQ."""
    return classify_error(exc).is_poison


def is_authentication_failure(exc: BaseException) -> bool:
    """True when a server rejected our credentials or certificate: fix configuration, never retry.

    Kafka SASL/authorisation errors, a TLS certificate verification failure,
    or SQLSTATE class 28 (invalid authorization specification).
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    sqlstate = sqlstate_of(exc)
    if sqlstate is not None:
        return sqlstate.startswith("28")
    kafka_errors = sys.modules.get("aiokafka.errors")
    if kafka_errors is None or not isinstance(exc, kafka_errors.KafkaError):
        return False
    return bool({cls.__name__ for cls in type(exc).__mro__} & _KAFKA_CONFIGURATION_ERRORS)


def sqlstate_of(exc: BaseException) -> str | None:
    """The five-character SQLSTATE carried by ``exc``, if any."""
    value = getattr(exc, "sqlstate", None)
    if isinstance(value, str) and len(value) == 5:
        return value.upper()
    return None


def classify_sqlstate(sqlstate: str) -> EnumErrorKind:
    """Classify a SQLSTATE code alone (rule 2 of the module docstring)."""
    code = sqlstate.upper()
    if code in OUTAGE_SQLSTATES or code[:2] in OUTAGE_SQLSTATE_CLASSES:
        return EnumErrorKind.OUTAGE
    if code[:2] in POISON_SQLSTATE_CLASSES:
        return EnumErrorKind.POISON
    return EnumErrorKind.OTHER


_Verdict = tuple[EnumErrorKind, bool, str, str | None]


def _classify_one(exc: BaseException) -> _Verdict | None:
    if isinstance(exc, InfraError):
        return _classify_infra(exc)
    sqlstate = sqlstate_of(exc)
    if sqlstate is not None:
        kind = classify_sqlstate(sqlstate)
        return kind, kind is EnumErrorKind.OUTAGE, f"sqlstate {sqlstate}", sqlstate
    if isinstance(exc, TimeoutError):
        return EnumErrorKind.OUTAGE, True, "timeout", None
    if isinstance(exc, UnicodeError | json.JSONDecodeError) or _is_validation_error(exc):
        return EnumErrorKind.POISON, False, "undecodable or invalid record", None
    kafka = _classify_kafka(exc)
    if kafka is not None:
        return kafka
    return _classify_os_error(exc)


def _classify_infra(exc: InfraError) -> _Verdict:
    if isinstance(exc, CircuitOpenError):
        return EnumErrorKind.OUTAGE, False, "circuit open", None
    if exc.counts_against_breaker:
        return EnumErrorKind.OUTAGE, True, f"{exc.error_class} policy", None
    if exc.goes_to_dead_letter:
        return EnumErrorKind.POISON, False, f"{exc.error_class} policy", None
    return EnumErrorKind.OTHER, False, f"{exc.error_class} policy", None


def _is_validation_error(exc: BaseException) -> bool:
    pydantic_core = sys.modules.get("pydantic_core")
    if pydantic_core is not None and isinstance(exc, pydantic_core.ValidationError):
        return True
    jsonschema_exceptions = sys.modules.get("jsonschema.exceptions")
    return jsonschema_exceptions is not None and isinstance(exc, jsonschema_exceptions.ValidationError)


def _classify_kafka(exc: BaseException) -> _Verdict | None:
    kafka_errors = sys.modules.get("aiokafka.errors")
    if kafka_errors is None or not isinstance(exc, kafka_errors.KafkaError):
        return None
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _KAFKA_CONFIGURATION_ERRORS:
        return EnumErrorKind.OTHER, False, "kafka authentication or configuration", None
    if names & _KAFKA_POISON_ERRORS:
        return EnumErrorKind.POISON, False, "kafka record rejected", None
    if names & _KAFKA_OUTAGE_ERRORS:
        return EnumErrorKind.OUTAGE, True, "kafka broker unavailable", None
    if getattr(exc, "retriable", False) is True:
        return EnumErrorKind.OUTAGE, True, "kafka retriable error", None
    return EnumErrorKind.OTHER, False, "kafka non-retriable error", None


def _classify_os_error(exc: BaseException) -> _Verdict | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return EnumErrorKind.OTHER, False, "tls certificate verification", None
    if isinstance(exc, ConnectionError | socket.gaierror | socket.herror):
        return EnumErrorKind.OUTAGE, True, "network error", None
    if isinstance(exc, ssl.SSLError):
        # A handshake or stream cut short by the peer, not a certificate problem.
        return EnumErrorKind.OUTAGE, True, "tls stream error", None
    if isinstance(exc, OSError):
        if exc.errno in _NETWORK_ERRNOS:
            return EnumErrorKind.OUTAGE, True, "network error", None
        if type(exc) is OSError and exc.errno is None:
            # asyncio's create_connection raises a bare OSError that folds the
            # errors of every address it tried ("Multiple exceptions").
            return EnumErrorKind.OUTAGE, True, "network error", None
        return EnumErrorKind.OTHER, False, "os error", None
    return None


__all__ = [
    "OUTAGE_SQLSTATES",
    "OUTAGE_SQLSTATE_CLASSES",
    "POISON_SQLSTATE_CLASSES",
    "EnumErrorKind",
    "ErrorClassification",
    "classify_error",
    "classify_sqlstate",
    "is_authentication_failure",
    "is_outage",
    "is_poison",
    "qualified_name",
    "sqlstate_of",
]
