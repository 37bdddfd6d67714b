"""``rejection_error`` names the variable to fix for each way a broker refuses us, never the password."""

from __future__ import annotations

import ssl

import pytest
from aiokafka import errors as kafka_errors
from pydantic import SecretStr

from omnibase_infra.infrastructure.kafka_producer_errors import rejection_error
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig

PASSWORD = "sasl-secret-value"
SASL_SSL = ModelKafkaSecurityConfig(
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="svc",
    sasl_password=SecretStr(PASSWORD),
)


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_code = code
    error.verify_message = message
    return error


@pytest.mark.parametrize(
    ("error", "variable", "reason"),
    [
        (
            _verify_error(20, "unable to get local issuer certificate"),
            "KAFKA_SSL_CA_FILE",
            "the broker at b:9093 is not trusted: unable to get local issuer certificate",
        ),
        (
            _verify_error(62, "Hostname mismatch, certificate is not valid for 'b'."),
            "KAFKA_BOOTSTRAP_SERVERS/KAFKA_SSL_CHECK_HOSTNAME",
            "certificate is not valid for 'b'",
        ),
        (
            kafka_errors.SaslAuthenticationFailed("invalid credentials"),
            "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD",
            "rejected SCRAM-SHA-512 authentication of user 'svc'",
        ),
        (
            kafka_errors.TopicAuthorizationFailedError(),
            "KAFKA_SASL_USERNAME",
            "refused an operation to user 'svc'",
        ),
    ],
)
def test_each_refusal_names_its_variable(error: BaseException, variable: str, reason: str) -> None:
    refusal = rejection_error(error, SASL_SSL, "b:9093")
    assert refusal.variable == variable
    assert reason in refusal.reason
    assert PASSWORD not in str(refusal)
