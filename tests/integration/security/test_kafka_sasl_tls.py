"""The producer pool and the consumer over the test broker's SASL and TLS listeners.

Correct credentials carry records both ways; wrong ones, an unknown user or a broker
certificate from another CA make ``start()`` raise ``ConfigurationError`` at once (not an
``OutageError`` that the service would retry until its startup timeout), naming the
variables to fix and never the password.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr
from secure_setup import SecuredKafka
from tls_material import TestCa

from omnibase_infra.contract_validation.model_environment_settings import ModelKafkaConsumerSettings
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.models.model_kafka_producer_config import (
    KafkaSaslMechanism,
    KafkaSecurityProtocol,
    ModelKafkaProducerConfig,
    ModelKafkaSecurityConfig,
)
from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import ProtocolKafkaConsumer, create_consumer
from omnibase_infra.workflow.records import Partition

# A refusal must be reported within this many seconds (the service's startup timeout is 120 s).
PROMPT = 15.0


def security_for(
    kafka: SecuredKafka,
    protocol: KafkaSecurityProtocol,
    mechanism: KafkaSaslMechanism | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
) -> tuple[str, ModelKafkaSecurityConfig]:
    """(bootstrap, security) for one of the secured listeners."""
    listeners = {"SASL_PLAINTEXT": kafka.sasl_plaintext, "SSL": kafka.ssl, "SASL_SSL": kafka.sasl_ssl}
    bootstrap = listeners[protocol]
    fields: dict[str, object] = {"security_protocol": protocol}
    if protocol.startswith("SASL"):
        fields |= {
            "sasl_mechanism": mechanism,
            "sasl_username": username or kafka.username,
            "sasl_password": SecretStr(password or kafka.password),
        }
    if protocol.endswith("SSL"):
        fields["ssl_ca_file"] = ca_file or kafka.ca_file
    return bootstrap, ModelKafkaSecurityConfig.model_validate(fields)


def pool_for(bootstrap: str, security: ModelKafkaSecurityConfig) -> KafkaProducerPool:
    config = ModelKafkaProducerConfig(
        bootstrap_servers=bootstrap, security=security, request_timeout_ms=10_000, delivery_timeout_ms=20_000
    )
    return KafkaProducerPool(config, name="security-test")


async def _ignore(partitions: set[Partition]) -> None:
    return None


def consumer_for(topic: str, bootstrap: str, security: ModelKafkaSecurityConfig) -> ProtocolKafkaConsumer:
    return create_consumer(
        [topic],
        bootstrap_servers=bootstrap,
        group_id=f"onex-security-{uuid.uuid4().hex[:8]}",
        security=security,
        on_revoked=_ignore,
        on_assigned=_ignore,
        client_id="onex-security-test",
        settings=ModelKafkaConsumerSettings(auto_offset_reset="earliest"),
    )


LISTENERS: list[tuple[KafkaSecurityProtocol, KafkaSaslMechanism | None]] = [
    ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
    ("SASL_PLAINTEXT", "PLAIN"),
    ("SSL", None),
    ("SASL_SSL", "SCRAM-SHA-256"),
]


@pytest.mark.parametrize(("protocol", "mechanism"), LISTENERS, ids=str)
async def test_correct_credentials_carry_records_through_the_pool_and_the_consumer(
    secured_kafka: SecuredKafka,
    unique_topic: Callable[..., Awaitable[str]],
    protocol: KafkaSecurityProtocol,
    mechanism: KafkaSaslMechanism | None,
) -> None:
    topic = await unique_topic(1)
    bootstrap, security = security_for(secured_kafka, protocol, mechanism)
    values = [f"{protocol}-{mechanism}-{i}".encode() for i in range(3)]

    async with pool_for(bootstrap, security) as pool:
        acks = [await pool.send(topic, value, key=b"k") for value in values]
        health = await pool.health_check()
    assert [offset for _, offset in acks] == [0, 1, 2]
    assert health.status == "healthy", health

    consumer = consumer_for(topic, bootstrap, security)
    await consumer.start()
    try:
        received: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(received) < len(values) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10)
            received += [r.value or b"" for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    assert received == values


REFUSALS = [
    pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-256", "password", id="scram-wrong-password"),
    pytest.param("SASL_PLAINTEXT", "PLAIN", "password", id="plain-wrong-password"),
    pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-256", "user", id="scram-unknown-user"),
    pytest.param("SASL_SSL", "SCRAM-SHA-256", "password", id="sasl-ssl-wrong-password"),
]


@pytest.mark.parametrize(("protocol", "mechanism", "wrong"), REFUSALS)
async def test_rejected_credentials_stop_the_pool_and_the_consumer_with_a_configuration_error(
    secured_kafka: SecuredKafka, protocol: KafkaSecurityProtocol, mechanism: KafkaSaslMechanism, wrong: str
) -> None:
    bad_password = f"wrong-{secrets.token_hex(8)}"
    username = f"nobody_{secrets.token_hex(4)}" if wrong == "user" else None
    bootstrap, security = security_for(
        secured_kafka, protocol, mechanism, username=username, password=bad_password
    )

    started = time.monotonic()
    pool = pool_for(bootstrap, security)
    with pytest.raises(ConfigurationError) as refused:
        await pool.start()
    assert time.monotonic() - started < PROMPT
    error = refused.value
    assert error.variable == "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD"
    assert f"rejected {mechanism} authentication of user {security.sasl_username!r}" in error.reason
    assert bad_password not in str(error)
    assert "SaslAuthenticationFailed" in error.reason
    await pool.stop()

    started = time.monotonic()
    consumer = consumer_for("onex.evt.security.unused.v1", bootstrap, security)
    with pytest.raises(ConfigurationError) as refused_consumer:
        await consumer.start()
    assert time.monotonic() - started < PROMPT
    assert refused_consumer.value.variable == "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD"
    assert bad_password not in str(refused_consumer.value)
    await consumer.stop()


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
async def test_a_broker_certificate_from_another_ca_is_refused_with_a_configuration_error(
    secured_kafka: SecuredKafka, tmp_path: Path, protocol: KafkaSecurityProtocol
) -> None:
    impostor = TestCa.create(tmp_path, "impostor")
    mechanism: KafkaSaslMechanism | None = "SCRAM-SHA-256" if protocol == "SASL_SSL" else None
    bootstrap, security = security_for(secured_kafka, protocol, mechanism, ca_file=str(impostor.cert))

    pool = pool_for(bootstrap, security)
    with pytest.raises(ConfigurationError) as refused:
        await asyncio.wait_for(pool.start(), PROMPT)
    assert refused.value.variable == "KAFKA_SSL_CA_FILE"
    assert f"the TLS certificate of the broker at {bootstrap} is not trusted" in refused.value.reason
    assert secured_kafka.password not in str(refused.value)
    await pool.stop()

    consumer = consumer_for("onex.evt.security.unused.v1", bootstrap, security)
    with pytest.raises(ConfigurationError) as refused_consumer:
        await asyncio.wait_for(consumer.start(), PROMPT)
    assert refused_consumer.value.variable == "KAFKA_SSL_CA_FILE"
    await consumer.stop()
