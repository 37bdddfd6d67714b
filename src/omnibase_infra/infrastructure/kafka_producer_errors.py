"""Translate Kafka client failures into the error tree, with messages that carry no secrets.

- Rejected credentials or certificates → ``ConfigurationError`` (never retried), naming
  the variables to fix (``rejection_error``).
- Outages (see ``error_classification``) → ``OutageError``.
- A record the broker can never take → ``PoisonRecordError`` (stage ``kafka_send``).
- Anything else, and errors already in the tree, are returned unchanged.

Callers raise the result ``from`` the original error.
"""

from __future__ import annotations

import ssl

from omnibase_infra.errors import ConfigurationError, InfraError, OutageError, PoisonRecordError
from omnibase_infra.infrastructure.error_classification import (
    classify_error,
    is_authentication_failure,
    qualified_name,
)
from omnibase_infra.models.model_kafka_producer_config import (
    ModelKafkaProducerConfig,
    ModelKafkaSecurityConfig,
)

FATAL_FOR_PRODUCER: frozenset[str] = frozenset(
    {"ProducerClosed", "ProducerFenced", "OutOfOrderSequenceNumber", "IllegalStateError", "UnknownProducerId"}
)
"""Client errors after which a producer instance cannot be used again."""

_MAX_MESSAGE = 300
# OpenSSL verify codes of a certificate that does not name the host we connected to.
_X509_HOSTNAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH


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


def rejection_error(
    exc: BaseException, security: ModelKafkaSecurityConfig, server: str
) -> ConfigurationError:
    """The ``ConfigurationError`` for a connection to ``server`` refused over credentials or a certificate.

    ``exc`` is one for which ``is_authentication_failure`` is true. A broker certificate we
    do not trust names ``KAFKA_SSL_CA_FILE`` (or the bootstrap host, when the certificate is
    for another name); a rejected login names the SASL variables. The password never
    appears; the user name and mechanism do.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        wrong_host = exc.verify_code in _X509_HOSTNAME_MISMATCH
        variable = "KAFKA_BOOTSTRAP_SERVERS/KAFKA_SSL_CHECK_HOSTNAME" if wrong_host else "KAFKA_SSL_CA_FILE"
        return ConfigurationError(
            variable, f"the TLS certificate of the broker at {server} is not trusted: {exc.verify_message}"
        )
    names = {cls.__name__ for cls in type(exc).__mro__}
    if any("Authorization" in name for name in names):
        return ConfigurationError(
            "KAFKA_SASL_USERNAME",
            f"the broker at {server} refused an operation to user {security.sasl_username!r}: "
            f"{qualified_name(exc)}",
        )
    if security.security_protocol.startswith("SASL"):
        return ConfigurationError(
            "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD",
            f"the broker at {server} rejected {security.sasl_mechanism} authentication of user "
            f"{security.sasl_username!r}: {qualified_name(exc)}",
        )
    return ConfigurationError(
        "KAFKA_SECURITY_PROTOCOL/KAFKA_SASL_*/KAFKA_SSL_*",
        f"the broker at {server} rejected the connection: {qualified_name(exc)}",
    )


def translate_kafka_error(exc: Exception, config: ModelKafkaProducerConfig) -> Exception:
    """The error to raise in place of ``exc`` (see the module docstring)."""
    if isinstance(exc, InfraError):
        return exc
    if is_authentication_failure(exc):
        return rejection_error(exc, config.security, config.bootstrap_servers)
    verdict = classify_error(exc)
    if verdict.is_outage:
        return OutageError(
            f"Kafka {config.bootstrap_servers} unavailable: {describe_kafka_error(exc, config)}"
        )
    if verdict.is_poison:
        return PoisonRecordError("kafka_send", verdict.error_class, describe_kafka_error(exc, config))
    return exc


__all__ = [
    "FATAL_FOR_PRODUCER",
    "describe_kafka_error",
    "is_fatal_for_producer",
    "rejection_error",
    "translate_kafka_error",
]
