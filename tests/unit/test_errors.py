"""The error tree: breaker and DLQ policy are class attributes."""

from __future__ import annotations

from omnibase_infra.errors import (
    CircuitOpenError,
    ConfigurationError,
    ContractError,
    InfraError,
    LifecycleError,
    OutageError,
    OutboxUnavailableError,
    PoisonRecordError,
    QueueFullError,
)


def test_policy_attributes() -> None:
    assert OutageError.counts_against_breaker and not OutageError.goes_to_dead_letter
    assert PoisonRecordError.goes_to_dead_letter and not PoisonRecordError.counts_against_breaker
    # The breaker refused the call: nothing was tried, so nothing is counted; still an outage to callers.
    assert issubclass(CircuitOpenError, OutageError)
    assert not CircuitOpenError.counts_against_breaker
    for kind in (ConfigurationError, ContractError, QueueFullError, OutboxUnavailableError, LifecycleError):
        assert issubclass(kind, InfraError)
        assert not kind.counts_against_breaker
        assert not kind.goes_to_dead_letter


def test_errors_carry_their_fields() -> None:
    circuit = CircuitOpenError("postgres", 12.34)
    assert (circuit.breaker_name, circuit.retry_after_seconds) == ("postgres", 12.34)
    assert "12.3s" in str(circuit)

    poison = PoisonRecordError("decode", "UnicodeDecodeError", "invalid UTF-8")
    assert (poison.stage, poison.poison_class, poison.reason) == (
        "decode",
        "UnicodeDecodeError",
        "invalid UTF-8",
    )
    assert poison.error_class == "poison"

    config = ConfigurationError("POSTGRES_PORT", "'x' is not a port number")
    assert config.variable == "POSTGRES_PORT"
    assert str(config).startswith("POSTGRES_PORT: ")


def test_contract_error_lists_every_problem() -> None:
    error = ContractError([("a.yaml", "io_operations.0.sql", "missing"), ("b.yaml", "", "not a mapping")])

    assert "a.yaml: io_operations.0.sql: missing" in str(error)
    assert "b.yaml: <root>: not a mapping" in str(error)


def test_conversion_to_an_onex_error_keeps_the_message() -> None:
    onex = OutageError("postgres unavailable").to_onex_error()

    assert "postgres unavailable" in str(onex)
