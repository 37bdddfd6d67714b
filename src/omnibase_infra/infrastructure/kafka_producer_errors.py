"""Translate Kafka client failures into the error tree, with messages that carry no secrets.

- Rejected credentials or certificates → ``ConfigurationError`` (never retried).
- Outages (see ``error_classification``) → ``OutageError``.
- A record the broker can never take → ``PoisonRecordError`` (stage ``kafka_send``).
- Anything else, and errors already in the tree, are returned unchanged.

Callers raise the result ``from`` the original error.
"""

from __future__ import annotations

from omnibase_infra.errors import ConfigurationError, InfraError, OutageError, PoisonRecordError
from omnibase_infra.infrastructure.error_classification import (
    classify_error,
    is_authentication_failure,
    qualified_name,
)
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig

FATAL_FOR_PRODUCER: frozenset[str] = frozenset(
    {"ProducerClosed", "ProducerFenced", "OutOfOrderSequenceNumber", "IllegalStateError", "UnknownProducerId"}
)
"""Client errors after which a producer instance cannot be used again."""

_MAX_MESSAGE = 300


def is_fatal_for_producer(exc: BaseException) -> bool:
    """True when the producer that raised ``exc`` must be replaced."""
    return bool({cls.__name__ for cls in type(exc).__mro__} & FATAL_FOR_PRODUCER)


def describe_kafka_error(exc: BaseException, config: ModelKafkaProducerConfig) -> str:
    """``ExceptionClass: message`` with the SASL password masked and the length bounded."""
    text = str(exc)
    password = config.security.sasl_password
    if password is not None and password.get_secret_value():
        text = text.replace(password.get_secret_value(), "***")
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return f"{qualified_name(exc)}: {text}" if text else qualified_name(exc)


def translate_kafka_error(exc: Exception, config: ModelKafkaProducerConfig) -> Exception:
    """The error to raise in place of ``exc`` (see the module docstring)."""
    if isinstance(exc, InfraError):
        return exc
    if is_authentication_failure(exc):
        return ConfigurationError(
            "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD",
            f"the broker rejected the client: {qualified_name(exc)}",
        )
    verdict = classify_error(exc)
    if verdict.is_outage:
        return OutageError(
            f"Kafka {config.bootstrap_servers} unavailable: {describe_kafka_error(exc, config)}"
        )
    if verdict.is_poison:
        return PoisonRecordError("kafka_send", verdict.error_class, describe_kafka_error(exc, config))
    return exc


__all__ = ["FATAL_FOR_PRODUCER", "describe_kafka_error", "is_fatal_for_producer", "translate_kafka_error"]
