"""load_settings: every bad variable is named, secrets come from files and are never rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibase_infra.environment import ENVIRONMENT_VARIABLES, EnumEnvironment
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.settings import load_settings

REQUIRED = {
    "POSTGRES_HOST": "db.internal",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
}
PASSWORD = "pg-Pa55word-never-shown"


def problems_of(**overrides: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**REQUIRED, **overrides})
    return caught.value


def test_minimal_environment_gives_defaults() -> None:
    settings = load_settings(REQUIRED)

    assert settings.environment is EnumEnvironment.DEVELOPMENT
    assert settings.postgres.host == "db.internal"
    assert settings.postgres.port == 5432
    assert settings.postgres.schema_name == "public"
    assert settings.postgres.password is None
    assert settings.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.kafka_security.security_protocol == "PLAINTEXT"
    assert (settings.health_check_port, settings.prometheus_metrics_port) == (8080, 9090)
    assert settings.event_store_topics is None
    assert settings.command_topic is None


def test_every_missing_required_variable_is_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({})

    for name in REQUIRED:
        assert name in caught.value.variable
        assert name in str(caught.value)


def test_blank_required_variable_counts_as_missing() -> None:
    error = problems_of(POSTGRES_HOST="   ")

    assert error.variable == "POSTGRES_HOST"
    assert "required" in error.reason


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POSTGRES_PORT", "five"),
        ("POSTGRES_PORT", "70000"),
        ("POSTGRES_PORT", "0"),
        ("HEALTH_CHECK_PORT", "http"),
        ("PROMETHEUS_METRICS_PORT", "-1"),
        ("POSTGRES_MAX_CONNECTIONS", "ten"),
        ("POSTGRES_COMMAND_TIMEOUT", "30s"),
        ("HEALTH_CHECK_INTERVAL", "0"),
        ("OTEL_TRACE_SAMPLE_RATE", "2"),
        ("KAFKA_SSL_CHECK_HOSTNAME", "maybe"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team"),
        ("POSTGRES_SSL_MODE", "sometimes"),
        ("POSTGRES_SCHEMA", "bad-schema; DROP"),
    ],
)
def test_malformed_value_names_its_variable(variable: str, value: str) -> None:
    error = problems_of(**{variable: value})

    assert error.variable == variable


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"POSTGRES_PORT": "x", "HEALTH_CHECK_PORT": "y", "ENVIRONMENT": "moon"})

    named = caught.value.variable.split(", ")
    assert {"POSTGRES_PORT", "HEALTH_CHECK_PORT", "ENVIRONMENT", *REQUIRED} <= set(named)


def test_unknown_environment_value_is_named() -> None:
    error = problems_of(ENVIRONMENT="moon")

    assert error.variable == "ENVIRONMENT"
    assert "moon" in error.reason


def test_environment_is_detected_from_the_mapping() -> None:
    assert load_settings({**REQUIRED, "ENV": "prod"}).environment is EnumEnvironment.PRODUCTION


def test_secret_is_read_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "pg_password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")

    settings = load_settings(
        {**REQUIRED, "POSTGRES_PASSWORD_FILE": str(secret), "POSTGRES_PASSWORD": "other"}
    )

    assert settings.postgres.password is not None
    assert settings.postgres.password.get_secret_value() == PASSWORD


def test_kafka_sasl_password_is_read_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "sasl"
    secret.write_text("sasl-secret", encoding="utf-8")

    settings = load_settings(
        {
            **REQUIRED,
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "svc",
            "KAFKA_SASL_PASSWORD_FILE": str(secret),
        }
    )

    assert settings.kafka_security.sasl_password is not None
    assert settings.kafka_security.sasl_password.get_secret_value() == "sasl-secret"


def test_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    error = problems_of(POSTGRES_PASSWORD_FILE=str(tmp_path / "missing"))

    assert error.variable == "POSTGRES_PASSWORD_FILE"
    assert "cannot read" in error.reason


def test_secret_from_the_plain_variable() -> None:
    settings = load_settings({**REQUIRED, "POSTGRES_PASSWORD": PASSWORD, "ONEX_ADMIN_TOKEN": "tok-123"})

    assert settings.postgres.password is not None
    assert settings.postgres.password.get_secret_value() == PASSWORD
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "tok-123"


def test_secrets_are_never_rendered() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "POSTGRES_PASSWORD": PASSWORD,
            "ONEX_ADMIN_TOKEN": "admin-token-never-shown",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "KAFKA_SASL_USERNAME": "svc",
            "KAFKA_SASL_PASSWORD": "sasl-never-shown",
        }
    )

    for rendered in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert PASSWORD not in rendered
        assert "admin-token-never-shown" not in rendered
        assert "sasl-never-shown" not in rendered


def test_a_secret_is_not_echoed_in_configuration_errors() -> None:
    error = problems_of(POSTGRES_PASSWORD=PASSWORD, POSTGRES_PORT="nope", KAFKA_SECURITY_PROTOCOL="SASL_SSL")

    assert PASSWORD not in str(error)


def test_topic_overrides() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "ONEX_EVENT_STORE_TOPICS": " onex.evt.a.v1, onex.evt.b.v1 ,,",
            "ONEX_COMMAND_TOPIC": "onex.cmd.custom.v1",
            "ONEX_OPERATION_COMPLETED_TOPIC": "onex.evt.custom.completed.v1",
            "ONEX_OPERATION_FAILED_TOPIC": "onex.evt.custom.failed.v1",
            "ONEX_STATE_CHANGED_TOPIC": "onex.evt.custom.state.v1",
        }
    )

    assert settings.event_store_topics == ("onex.evt.a.v1", "onex.evt.b.v1")
    assert settings.command_topic == "onex.cmd.custom.v1"
    assert settings.operation_completed_topic == "onex.evt.custom.completed.v1"
    assert settings.operation_failed_topic == "onex.evt.custom.failed.v1"
    assert settings.state_changed_topic == "onex.evt.custom.state.v1"


def test_empty_topic_list_is_malformed() -> None:
    assert problems_of(ONEX_EVENT_STORE_TOPICS=" , ").variable == "ONEX_EVENT_STORE_TOPICS"


def test_other_values_are_parsed() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "POSTGRES_PORT": "6432",
            "POSTGRES_SCHEMA": "onex_infra",
            "HEALTH_CHECK_PORT": "0",
            "KAFKA_SSL_CHECK_HOSTNAME": "off",
            "OTEL_RESOURCE_ATTRIBUTES": "team=infra, region = eu-1",
            "OTEL_TRACE_SAMPLE_RATE": "0.25",
            "ONEX_CONTRACTS_PATH": "/etc/onex/a,/etc/onex/b",
        }
    )

    assert settings.postgres.port == 6432
    assert settings.postgres.schema_name == "onex_infra"
    assert settings.health_check_port == 0
    assert settings.kafka_security.ssl_check_hostname is False
    assert settings.telemetry.resource_attributes == {"team": "infra", "region": "eu-1"}
    assert settings.telemetry.trace_sample_rate == 0.25
    assert settings.extra_contract_paths == ("/etc/onex/a", "/etc/onex/b")


def test_os_environ_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POSTGRES_DATABASE", "from_os_environ")

    assert load_settings().postgres.database == "from_os_environ"


def test_pool_variables_that_are_set_win_over_the_contract() -> None:
    from omnibase_infra.contract_validation.loader import load_contract_set

    pool = load_contract_set(validate_core=False).node("postgres_adapter").postgres_pool("production")
    base = {
        "POSTGRES_HOST": "db",
        "POSTGRES_DATABASE": "d",
        "POSTGRES_USER": "u",
        "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
    }
    unset = pool.apply_to(load_settings(base).postgres)
    assert (unset.min_connections, unset.max_connections) == (pool.min_connections, pool.max_connections)
    chosen = pool.apply_to(
        load_settings({**base, "POSTGRES_MIN_CONNECTIONS": "1", "POSTGRES_MAX_CONNECTIONS": "3"}).postgres
    )
    assert (chosen.min_connections, chosen.max_connections) == (1, 3)
    assert chosen.command_timeout == pool.command_timeout
