"""VAULT_* variables: the store is used only with VAULT_ADDR, and every problem names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.vault_settings import load_vault_settings, read_token_file
from omnibase_infra.observability.redaction import redact

BASE = {"VAULT_ADDR": "https://vault.internal:8200", "VAULT_POSTGRES_PATH": "onex/postgres"}


def test_without_vault_addr_the_store_is_not_used() -> None:
    assert load_vault_settings({}) is None
    assert load_vault_settings({"VAULT_ADDR": "  ", "VAULT_TOKEN": "t"}) is None


def test_token_settings_with_defaults() -> None:
    settings = load_vault_settings({**BASE, "VAULT_TOKEN": "s.token-for-defaults"})
    assert settings is not None
    assert settings.auth_method == "token"
    assert settings.kv_mount == "secret"
    assert settings.refresh_interval == 300.0
    assert settings.timeout == 10.0
    assert settings.targets == ("postgres",)
    assert settings.path_of("kafka") is None
    assert "s.token-for-defaults" not in repr(settings)


def test_approle_settings_and_paths_are_normalised() -> None:
    settings = load_vault_settings(
        {
            "VAULT_ADDR": "http://127.0.0.1:8200",
            "VAULT_ROLE_ID": "role",
            "VAULT_SECRET_ID": "approle-secret-id-value",
            "VAULT_APPROLE_MOUNT": "apps/approle",
            "VAULT_KV_MOUNT": "/kv/",
            "VAULT_POSTGRES_PATH": "/onex/postgres/",
            "VAULT_KAFKA_PATH": "onex/kafka",
            "VAULT_REFRESH_INTERVAL": "60",
            "VAULT_TIMEOUT": "2.5",
            "VAULT_NAMESPACE": "team-a",
        }
    )
    assert settings is not None
    assert settings.auth_method == "approle"
    assert (settings.kv_mount, settings.postgres_path, settings.approle_mount) == (
        "kv",
        "onex/postgres",
        "apps/approle",
    )
    assert settings.targets == ("postgres", "kafka")
    assert (settings.refresh_interval, settings.timeout, settings.namespace) == (60.0, 2.5, "team-a")


def test_secrets_read_are_registered_for_redaction(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s.token-from-a-file-7731\n", encoding="utf-8")
    settings = load_vault_settings({**BASE, "VAULT_TOKEN_FILE": str(token_file)})
    assert settings is not None and settings.token_file == token_file
    assert settings.token is not None and settings.token.get_secret_value() == "s.token-from-a-file-7731"
    assert redact("token s.token-from-a-file-7731 here") == "token *** here"
    load_vault_settings(
        {**BASE, "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "approle-secret-id-9924", "VAULT_TOKEN": ""}
    )
    assert "approle-secret-id-9924" not in redact("id approle-secret-id-9924")


@pytest.mark.parametrize(
    ("environ", "variables"),
    [
        ({**BASE}, "VAULT_TOKEN"),
        ({**BASE, "VAULT_TOKEN": "t", "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s"}, "VAULT_TOKEN"),
        ({**BASE, "VAULT_ROLE_ID": "r"}, "VAULT_SECRET_ID"),
        ({"VAULT_ADDR": "http://v:8200", "VAULT_TOKEN": "t"}, "VAULT_POSTGRES_PATH"),
        ({**BASE, "VAULT_TOKEN": "t", "VAULT_REFRESH_INTERVAL": "soon"}, "VAULT_REFRESH_INTERVAL"),
        ({**BASE, "VAULT_TOKEN": "t", "VAULT_REFRESH_INTERVAL": "0"}, "VAULT_REFRESH_INTERVAL"),
        ({**BASE, "VAULT_TOKEN": "t", "VAULT_ADDR": "vault:8200"}, "VAULT_ADDR"),
        ({**BASE, "VAULT_TOKEN": "t", "VAULT_KAFKA_PATH": "a b"}, "VAULT_KAFKA_PATH"),
        ({**BASE, "VAULT_TOKEN_FILE": "/nonexistent/token"}, "VAULT_TOKEN_FILE"),
    ],
)
def test_problems_name_the_variable(environ: dict[str, str], variables: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_vault_settings(environ)
    assert variables in caught.value.variable


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_vault_settings({"VAULT_ADDR": "http://v:8200", "VAULT_TIMEOUT": "x"})
    for name in ("VAULT_TOKEN", "VAULT_POSTGRES_PATH", "VAULT_TIMEOUT"):
        assert name in caught.value.variable


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="VAULT_TOKEN_FILE"):
        load_vault_settings({**BASE, "VAULT_TOKEN_FILE": str(empty)})
    with pytest.raises(ConfigurationError, match="empty"):
        read_token_file(empty)
