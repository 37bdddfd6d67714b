"""The classifier reads types, attributes and SQLSTATEs, never message text."""

from __future__ import annotations

import errno
import json
import socket
import ssl

import aiokafka.errors as kafka_errors
import asyncpg
import pydantic
import pytest

from omnibase_infra.errors import (
    CircuitOpenError,
    ConfigurationError,
    LifecycleError,
    OutageError,
    OutboxUnavailableError,
    PoisonRecordError,
    QueueFullError,
)
from omnibase_infra.infrastructure.error_classification import (
    EnumErrorKind,
    classify_error,
    classify_sqlstate,
    is_authentication_failure,
    is_outage,
    is_poison,
)

OUTAGE, POISON, OTHER = EnumErrorKind.OUTAGE, EnumErrorKind.POISON, EnumErrorKind.OTHER


class _SqlError(Exception):
    """Anything with a ``sqlstate`` attribute is read like asyncpg's PostgresError."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__("connection refused")  # misleading text must not matter
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [
        ("08000", OUTAGE),
        ("08001", OUTAGE),
        ("08003", OUTAGE),
        ("08006", OUTAGE),
        ("08P01", OUTAGE),
        ("57P01", OUTAGE),
        ("57P02", OUTAGE),
        ("57P03", OUTAGE),
        ("57014", OUTAGE),
        ("53300", OUTAGE),
        ("53100", OUTAGE),
        ("58030", OUTAGE),
        ("22000", POISON),
        ("22P02", POISON),
        ("22001", POISON),
        ("23505", POISON),
        ("23503", POISON),
        ("23502", POISON),
        ("42P01", OTHER),
        ("42601", OTHER),
        ("40001", OTHER),
        ("40P01", OTHER),
        ("28P01", OTHER),
        ("57000", OTHER),
    ],
)
def test_sqlstate_classes(sqlstate: str, kind: EnumErrorKind) -> None:
    assert classify_sqlstate(sqlstate) is kind
    verdict = classify_error(_SqlError(sqlstate))
    assert verdict.kind is kind
    assert verdict.sqlstate == sqlstate
    assert verdict.counts_against_breaker is (kind is OUTAGE)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (asyncpg.exceptions.ConnectionDoesNotExistError("x"), OUTAGE),
        (asyncpg.exceptions.AdminShutdownError("x"), OUTAGE),
        (asyncpg.exceptions.CannotConnectNowError("x"), OUTAGE),
        (asyncpg.exceptions.TooManyConnectionsError("x"), OUTAGE),
        (asyncpg.exceptions.UniqueViolationError("x"), POISON),
        (asyncpg.exceptions.InvalidTextRepresentationError("x"), POISON),
        (asyncpg.exceptions.UndefinedTableError("x"), OTHER),
        (asyncpg.exceptions.InterfaceError("connection is closed"), OTHER),
    ],
)
def test_asyncpg_errors(exc: BaseException, kind: EnumErrorKind) -> None:
    assert classify_error(exc).kind is kind


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        ConnectionResetError(),
        BrokenPipeError(),
        TimeoutError(),
        OSError(errno.EHOSTUNREACH, "no route"),
        OSError("Multiple exceptions: ..."),
        socket.gaierror(socket.EAI_NONAME, "unknown host"),
        ssl.SSLEOFError(),
        OutageError("down"),
    ],
)
def test_network_errors_are_outages(exc: BaseException) -> None:
    verdict = classify_error(exc)
    assert verdict.kind is OUTAGE
    assert verdict.counts_against_breaker


@pytest.mark.parametrize(
    "exc",
    [
        FileNotFoundError(errno.ENOENT, "no file"),
        PermissionError(errno.EACCES, "denied"),
        ssl.SSLCertVerificationError("bad cert"),
    ],
)
def test_local_os_errors_are_not_outages(exc: BaseException) -> None:
    assert classify_error(exc).kind is OTHER


def test_circuit_open_is_an_outage_that_is_not_counted() -> None:
    verdict = classify_error(CircuitOpenError("bus", 3.0))
    assert verdict.kind is OUTAGE
    assert not verdict.counts_against_breaker


def _pydantic_error() -> pydantic.ValidationError:
    class M(pydantic.BaseModel):
        n: int

    try:
        M.model_validate({"n": "x"})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


def _json_error() -> json.JSONDecodeError:
    try:
        json.loads("{")
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "exc",
    [
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        _json_error(),
        _pydantic_error(),
        PoisonRecordError("decode", "UnicodeDecodeError", "bad"),
        kafka_errors.MessageSizeTooLargeError(),
        kafka_errors.CorruptRecordException(),
    ],
)
def test_bad_records_are_poison(exc: BaseException) -> None:
    assert is_poison(exc)
    assert not classify_error(exc).counts_against_breaker


def test_jsonschema_validation_errors_are_poison() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    try:
        jsonschema.validate(1, {"type": "string"})
    except jsonschema.ValidationError as exc:
        assert is_poison(exc)


@pytest.mark.parametrize(
    "exc",
    [
        kafka_errors.KafkaConnectionError(),
        kafka_errors.NodeNotReadyError(),
        kafka_errors.RequestTimedOutError(),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NotLeaderForPartitionError(),
        kafka_errors.LeaderNotAvailableError(),
        kafka_errors.BrokerNotAvailableError(),
        kafka_errors.NoBrokersAvailable(),
        kafka_errors.KafkaUnavailableError(),
        kafka_errors.NotEnoughReplicasError(),
        kafka_errors.CoordinatorNotAvailableError(),  # retriable = True
    ],
)
def test_kafka_availability_errors_are_outages(exc: BaseException) -> None:
    assert is_outage(exc)


@pytest.mark.parametrize(
    "exc",
    [
        kafka_errors.AuthenticationFailedError(),
        kafka_errors.SaslAuthenticationFailed(),
        kafka_errors.UnsupportedSaslMechanismError(),
        kafka_errors.TopicAuthorizationFailedError(),
    ],
)
def test_kafka_authentication_errors_are_other_and_flagged(exc: BaseException) -> None:
    assert classify_error(exc).kind is OTHER
    assert is_authentication_failure(exc)


def test_authentication_failures_of_postgres() -> None:
    assert is_authentication_failure(asyncpg.exceptions.InvalidPasswordError("x"))
    assert not is_authentication_failure(asyncpg.exceptions.AdminShutdownError("x"))
    assert not is_authentication_failure(ConnectionRefusedError())


@pytest.mark.parametrize(
    "exc",
    [
        ConfigurationError("X", "bad"),
        LifecycleError("not started"),
        QueueFullError("full"),
        OutboxUnavailableError("neither published nor spilled"),
        ValueError("bug"),
    ],
)
def test_everything_else_is_other(exc: BaseException) -> None:
    verdict = classify_error(exc)
    assert verdict.kind is OTHER
    assert not verdict.counts_against_breaker


def test_a_wrapper_is_classified_by_its_cause() -> None:
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        verdict = classify_error(exc)
    assert verdict.kind is OUTAGE
    assert verdict.rule.startswith("cause:")


def test_an_infra_error_keeps_its_own_policy_whatever_its_cause() -> None:
    error = ConfigurationError("KAFKA_SASL_PASSWORD", "rejected")
    error.__cause__ = ConnectionResetError()
    assert classify_error(error).kind is OTHER


def test_message_text_is_never_read() -> None:
    assert classify_error(ValueError("connection refused; SQLSTATE 08006")).kind is OTHER
    assert classify_error(_SqlError("23505")).kind is POISON  # its text says "connection refused"
