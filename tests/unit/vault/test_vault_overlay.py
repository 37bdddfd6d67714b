"""The settings hook: with VAULT_ADDR, load_settings takes the credentials from the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure import vault_client
from omnibase_infra.infrastructure.vault_overlay import overlay_vault_credentials
from omnibase_infra.infrastructure.vault_settings import ModelVaultSettings
from omnibase_infra.settings import load_settings

from .fakes import ROOT_TOKEN, FakeVaultClient, seeded_client

SERVICE_ENV = {
    "POSTGRES_HOST": "db",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "from-env",
    "POSTGRES_PASSWORD": "env-password",
    "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
    "KAFKA_SASL_USERNAME": "env-sasl-user",
}
VAULT_ENV = {
    "VAULT_ADDR": "http://127.0.0.1:8200",
    "VAULT_TOKEN": ROOT_TOKEN,
    "VAULT_POSTGRES_PATH": "onex/postgres",
    "VAULT_KAFKA_PATH": "onex/kafka",
}


def _factory(client: FakeVaultClient) -> vault_client.VaultClientFactory:
    def build(settings: ModelVaultSettings) -> FakeVaultClient:
        return client

    return build


def test_without_vault_addr_the_environment_is_returned_as_is() -> None:
    environ = {"POSTGRES_PASSWORD": "p"}
    assert overlay_vault_credentials(environ) is environ


def test_store_values_replace_the_credential_variables(tmp_path: Path) -> None:
    password_file = tmp_path / "pg"
    password_file.write_text("file-password", encoding="utf-8")
    client = seeded_client()
    environ = {**SERVICE_ENV, **VAULT_ENV, "POSTGRES_PASSWORD_FILE": str(password_file)}
    merged = overlay_vault_credentials(environ, client_factory=_factory(client))
    assert merged["POSTGRES_USER"] == "onex_service"
    assert merged["POSTGRES_PASSWORD"] == "pg-password-v1"
    assert "POSTGRES_PASSWORD_FILE" not in merged
    assert (merged["KAFKA_SASL_USERNAME"], merged["KAFKA_SASL_PASSWORD"]) == (
        "onex-sasl",
        "kafka-password-v1",
    )
    assert environ["POSTGRES_PASSWORD"] == "env-password"  # the input is not modified
    assert client.closed == 1


def test_a_secret_without_username_keeps_the_configured_user() -> None:
    client = FakeVaultClient()
    client.write("secret", "onex/postgres", password="only-a-password")
    environ = {**SERVICE_ENV, **VAULT_ENV, "VAULT_KAFKA_PATH": ""}
    merged = overlay_vault_credentials(environ, client_factory=_factory(client))
    assert (merged["POSTGRES_USER"], merged["POSTGRES_PASSWORD"]) == ("from-env", "only-a-password")
    assert "KAFKA_SASL_PASSWORD" not in merged


def test_an_unreachable_store_refuses_startup_naming_vault_addr() -> None:
    client = seeded_client(unavailable=True)
    with pytest.raises(ConfigurationError) as caught:
        overlay_vault_credentials({**SERVICE_ENV, **VAULT_ENV}, client_factory=_factory(client))
    assert caught.value.variable == "VAULT_ADDR"
    assert "VAULT_POSTGRES_PATH" in caught.value.reason
    assert client.closed == 1


def test_load_settings_uses_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    client = seeded_client()
    monkeypatch.setattr(vault_client, "hvac_client_factory", _factory(client))
    settings = load_settings({**SERVICE_ENV, **VAULT_ENV})
    assert settings.postgres.user == "onex_service"
    assert settings.postgres.password is not None
    assert settings.postgres.password.get_secret_value() == "pg-password-v1"
    security = settings.kafka_security
    assert security.sasl_username == "onex-sasl"
    assert security.sasl_password is not None
    assert security.sasl_password.get_secret_value() == "kafka-password-v1"
    assert "pg-password-v1" not in repr(settings)


def test_load_settings_reports_store_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeVaultClient()
    monkeypatch.setattr(vault_client, "hvac_client_factory", _factory(client))
    with pytest.raises(ConfigurationError, match="VAULT_POSTGRES_PATH"):
        load_settings({**SERVICE_ENV, **VAULT_ENV})
    with pytest.raises(ConfigurationError, match="VAULT_TOKEN"):
        load_settings({**SERVICE_ENV, "VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_POSTGRES_PATH": "p"})
