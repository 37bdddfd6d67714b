"""Secret masking: registered values, DSN passwords, libpq keyword passwords, JSON values."""

from __future__ import annotations

import threading

import pytest
from pydantic import SecretStr

from omnibase_infra.observability.redaction import (
    MASK,
    SecretRegistry,
    redact,
    redact_json,
    register_secret,
    register_settings_secrets,
)
from omnibase_infra.settings import load_settings


def test_registered_values_are_masked_everywhere() -> None:
    register_secret("s3cr3t-value")
    register_secret(SecretStr("token-abc-123"))
    text = "pw=s3cr3t-value; header=Bearer token-abc-123; again s3cr3t-value"
    assert redact(text) == f"pw={MASK}; header=Bearer {MASK}; again {MASK}"


def test_none_and_empty_values_are_ignored() -> None:
    register_secret(None)
    register_secret("")
    register_secret(SecretStr(""))
    assert redact("nothing to hide") == "nothing to hide"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:pa55@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("connect to postgres://u:p%40ss@h/db failed", "connect to postgres://u:***@h/db failed"),
        ("sasl_ssl://user:pw@broker:9093", "sasl_ssl://user:***@broker:9093"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("http://host:8080/path", "http://host:8080/path"),
        ("host=db password=hunter2 user=app", "host=db password=*** user=app"),
        ("PASSWORD = 'with space'", "PASSWORD = ***"),
    ],
)
def test_dsn_and_keyword_passwords_are_masked_without_registration(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_longer_secret_is_masked_whole_and_redaction_is_idempotent() -> None:
    register_secret("abc")
    register_secret("abcdef")
    once = redact("value abcdef and abc")
    assert once == f"value {MASK} and {MASK}"
    assert redact(once) == once


def test_redact_json_masks_keys_and_nested_values() -> None:
    register_secret("topsecret")
    value = {"a": ["x topsecret", {"topsecret": 1}], "n": 3, "b": None, "t": True}
    assert redact_json(value) == {"a": [f"x {MASK}", {MASK: 1}], "n": 3, "b": None, "t": True}


def test_settings_secrets_are_registered() -> None:
    settings = load_settings(
        {
            "POSTGRES_HOST": "h",
            "POSTGRES_DATABASE": "d",
            "POSTGRES_USER": "u",
            "POSTGRES_PASSWORD": "pg-password-1",
            "KAFKA_BOOTSTRAP_SERVERS": "b:9092",
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "k",
            "KAFKA_SASL_PASSWORD": "sasl-password-2",
            "ONEX_ADMIN_TOKEN": "admin-token-3",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20otlp-token-4,x-tenant=blue",
        }
    )
    register_settings_secrets(settings)
    assert redact("pg-password-1 sasl-password-2 admin-token-3") == f"{MASK} {MASK} {MASK}"
    # The OTLP headers: each credential-long value as the exporter sends it (URL-decoded), and
    # the raw list; a short value (a tenant name) stays readable.
    assert redact("sent Bearer otlp-token-4 for blue") == f"sent {MASK} for blue"
    assert "otlp-token-4" not in redact("authorization=Bearer%20otlp-token-4,x-tenant=blue")


def test_registry_is_safe_across_threads() -> None:
    registry = SecretRegistry()

    def add(i: int) -> None:
        for j in range(50):
            registry.register(f"secret-{i}-{j}-xyz")

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = " ".join(f"secret-{i}-{j}-xyz" for i in range(8) for j in range(50))
    assert set(registry.redact(text).split()) == {MASK}
