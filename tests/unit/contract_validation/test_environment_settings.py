"""Per-environment settings keep the bounds of the runtime models they feed, and convert into them."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, SecretStr

from omnibase_infra.contract_validation.model_environment_settings import (
    POOL_USE_FIELDS,
    ModelKafkaConsumerSettings,
    ModelKafkaProducerSettings,
    ModelPerEnvironment,
    ModelPostgresPoolSettings,
)
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.models.model_kafka_producer_config import (
    ModelKafkaProducerConfig,
    ModelKafkaSecurityConfig,
)
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

BOUND_KEYS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "enum",
    "const",
    "type",
    "default",
)


def _bounds(model: type[BaseModel], field: str) -> dict[str, object]:
    schema = model.model_json_schema()["properties"][field]
    return {key: schema[key] for key in BOUND_KEYS if key in schema}


@pytest.mark.parametrize("field", sorted(set(ModelPostgresPoolSettings.model_fields) - POOL_USE_FIELDS))
def test_pool_settings_bounds_equal_the_connection_config(field: str) -> None:
    settings, runtime = (
        _bounds(ModelPostgresPoolSettings, field),
        _bounds(ModelPostgresConnectionConfig, field),
    )
    settings.pop("default", None)
    runtime.pop("default", None)
    assert settings == runtime


@pytest.mark.parametrize("field", sorted(ModelKafkaProducerSettings.model_fields))
def test_producer_settings_bounds_equal_the_producer_config(field: str) -> None:
    assert _bounds(ModelKafkaProducerSettings, field) == _bounds(ModelKafkaProducerConfig, field)


def test_producer_settings_are_the_producer_config_minus_servers_and_security() -> None:
    expected = set(ModelKafkaProducerConfig.model_fields) - {"bootstrap_servers", "security"}
    assert set(ModelKafkaProducerSettings.model_fields) == expected


def test_producer_settings_become_a_producer_config() -> None:
    security = ModelKafkaSecurityConfig(
        security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u", sasl_password=SecretStr("p")
    )
    config = ModelKafkaProducerSettings(linger_ms=5, max_pool_size=2).to_producer_config("k1:9092", security)
    assert (config.bootstrap_servers, config.linger_ms, config.max_pool_size) == ("k1:9092", 5, 2)
    assert config.security == security


def test_pool_settings_apply_to_a_connection_config() -> None:
    connection = ModelPostgresConnectionConfig(
        host="db", database="onex", user="svc", password=SecretStr("s")
    )
    pool = ModelPostgresPoolSettings(min_connections=3, max_connections=7, command_timeout=12)
    applied = pool.apply_to(connection)
    assert (applied.min_connections, applied.max_connections, applied.command_timeout) == (3, 7, 12.0)
    assert applied.password == connection.password and applied.host == "db"


@pytest.mark.parametrize(
    ("model", "values", "message"),
    [
        (
            ModelPostgresPoolSettings,
            {"min_connections": 9, "max_connections": 3, "command_timeout": 1},
            "exceed",
        ),
        (
            ModelPostgresPoolSettings,
            {"max_connections": 3, "command_timeout": 1, "read_connections": 4},
            "read_connections",
        ),
        (
            ModelPostgresPoolSettings,
            {"max_connections": 3, "command_timeout": 1, "write_connections": 4},
            "write_connections",
        ),
        (ModelKafkaProducerSettings, {"acks": "1"}, "enable_idempotence requires acks='all'"),
        (ModelKafkaProducerSettings, {"min_pool_size": 5, "max_pool_size": 2}, "min_pool_size"),
        (ModelKafkaConsumerSettings, {"session_timeout_ms": 6000, "heartbeat_interval_ms": 3000}, "third"),
    ],
)
def test_cross_field_rules(model: type[BaseModel], values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model.model_validate(values)


def test_per_environment_lookup_accepts_every_spelling() -> None:
    values = ModelPerEnvironment[int](production=1, staging=2, development=3)
    assert values.for_environment(EnumEnvironment.STAGING) == 2
    assert values.for_environment(" LIVE ") == 1
    assert values.for_environment("local") == 3
    with pytest.raises(ConfigurationError):
        values.for_environment("qa")
