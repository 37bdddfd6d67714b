"""The pure parts of the consumer seam: partitions and the client's security arguments."""

from __future__ import annotations

import ssl

from pydantic import SecretStr

from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig
from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import security_kwargs
from omnibase_infra.workflow.records import Partition


def test_partitions_are_hashable_and_ordered() -> None:
    a0, a1, b0 = Partition("a", 0), Partition("a", 1), Partition("b", 0)

    assert sorted([b0, a1, a0]) == [a0, a1, b0]
    assert {a0, Partition("a", 0)} == {a0}


def test_plaintext_needs_only_the_protocol() -> None:
    assert security_kwargs(ModelKafkaSecurityConfig()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_plaintext_passes_the_credentials() -> None:
    security = ModelKafkaSecurityConfig(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password=SecretStr("s3cret"),
    )

    kwargs = security_kwargs(security)

    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "s3cret",
    }


def test_sasl_ssl_builds_a_tls_context_honouring_hostname_checking() -> None:
    security = ModelKafkaSecurityConfig(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="svc",
        sasl_password=SecretStr("s3cret"),
        ssl_check_hostname=False,
    )

    kwargs = security_kwargs(security)

    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert kwargs["sasl_plain_password"] == "s3cret"
