"""The hvac seam: answers validated into typed models, hvac/requests errors translated into ours."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import hvac.exceptions
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.error_classification import classify_error
from omnibase_infra.infrastructure.vault_client import HvacVaultClient, translate_error
from omnibase_infra.infrastructure.vault_errors import (
    CredentialNotFoundError,
    CredentialStoreDeniedError,
    CredentialStoreError,
    CredentialStoreUnavailableError,
)

from .fakes import token_settings


class _RequestsConnectionError(OSError):
    """Stands in for requests.exceptions.ConnectionError (matched by class name)."""


_RequestsConnectionError.__name__ = "ConnectionError"


class _RequestsSSLError(_RequestsConnectionError):
    pass


_RequestsSSLError.__name__ = "SSLError"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (hvac.exceptions.Forbidden(errors=["permission denied"]), CredentialStoreDeniedError),
        (hvac.exceptions.Unauthorized(), CredentialStoreDeniedError),
        (hvac.exceptions.InvalidPath(), CredentialNotFoundError),
        (hvac.exceptions.InvalidRequest(errors=["bad"]), CredentialStoreError),
        (hvac.exceptions.VaultDown(errors=["Vault is sealed"]), CredentialStoreUnavailableError),
        (hvac.exceptions.InternalServerError(), CredentialStoreUnavailableError),
        (hvac.exceptions.RateLimitExceeded(), CredentialStoreUnavailableError),
        (_RequestsConnectionError("refused"), CredentialStoreUnavailableError),
        (TimeoutError(), CredentialStoreUnavailableError),
        (_RequestsSSLError("certificate verify failed"), CredentialStoreError),
    ],
)
def test_errors_are_translated(error: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught:
        translate_error(error, "read secret/onex/postgres", "VAULT_KV_MOUNT")
    assert type(caught.value) is expected
    outage = issubclass(expected, CredentialStoreUnavailableError)
    assert classify_error(caught.value).counts_against_breaker is outage
    if not outage:
        assert isinstance(caught.value, ConfigurationError)


def test_server_error_text_is_kept_and_bounded() -> None:
    with pytest.raises(CredentialStoreDeniedError) as caught:
        translate_error(hvac.exceptions.Forbidden(errors=["permission denied"]), "read x/y", "VAULT_TOKEN")
    assert caught.value.variable == "VAULT_TOKEN"
    assert caught.value.reason == "read x/y: permission denied (permission denied)"
    with pytest.raises(CredentialStoreError) as long:
        translate_error(hvac.exceptions.InvalidRequest(errors=["e" * 1000]), "op", "VAULT_TOKEN")
    assert len(long.value.reason) < 400


def test_unrelated_errors_pass_through() -> None:
    with pytest.raises(KeyError):
        translate_error(KeyError("bug"), "op", "VAULT_TOKEN")


def _client(**calls: Callable[..., Any]) -> tuple[HvacVaultClient, SimpleNamespace]:
    client = HvacVaultClient(token_settings())
    closed: list[bool] = []
    stub = SimpleNamespace(
        token=None,
        adapter=SimpleNamespace(close=lambda: closed.append(True)),
        auth=SimpleNamespace(
            approle=SimpleNamespace(login=calls.get("login")),
            token=SimpleNamespace(lookup_self=calls.get("lookup"), renew_self=calls.get("renew")),
        ),
        secrets=SimpleNamespace(
            kv=SimpleNamespace(v2=SimpleNamespace(read_secret_version=calls.get("read")))
        ),
        closed=closed,
    )
    client._client = stub
    return client, stub


def test_kv_answer_becomes_secret_values() -> None:
    answer = {
        "lease_duration": 0,
        "data": {
            "data": {"username": "svc", "password": "pw", "port": 5432, "enabled": True, "nested": {"a": 1}},
            "metadata": {"version": 7, "destroyed": False},
        },
    }
    seen: dict[str, Any] = {}

    def read(**kwargs: Any) -> dict[str, Any]:
        seen.update(kwargs)
        return answer

    client, _ = _client(read=read)
    secret = client.read_kv2("secret", "onex/postgres")
    assert seen == {"path": "onex/postgres", "mount_point": "secret", "raise_on_deleted_version": True}
    assert {k: v.get_secret_value() for k, v in secret.values.items()} == {
        "username": "svc",
        "password": "pw",
        "port": "5432",
    }
    assert (secret.version, secret.lease_seconds) == (7, 0)


def test_a_malformed_answer_is_a_store_error_without_values() -> None:
    client, _ = _client(read=lambda **_: {"data": "not an object"})
    with pytest.raises(CredentialStoreError, match="not a JSON object"):
        client.read_kv2("secret", "x")
    client, _ = _client(
        login=lambda **_: {"auth": {"client_token": "s.tok-in-bad-answer", "lease_duration": "x"}}
    )
    with pytest.raises(CredentialStoreError) as caught:
        client.login_approle("approle", "r", SecretStr("s"))
    assert "s.tok-in-bad-answer" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_login_lookup_renew_and_token_use() -> None:
    logins: list[dict[str, Any]] = []

    def login(**kwargs: Any) -> dict[str, Any]:
        logins.append(kwargs)
        return {"auth": {"client_token": "s.new", "lease_duration": 60, "renewable": True}}

    client, stub = _client(
        login=login,
        lookup=lambda: {"data": {"ttl": 0, "renewable": False, "id": "s.root"}},
        renew=lambda: {"auth": {"client_token": "s.new", "lease_duration": 55, "renewable": True}},
    )
    token = client.login_approle("approle", "role", SecretStr("sid"))
    assert logins == [{"role_id": "role", "secret_id": "sid", "mount_point": "approle", "use_token": True}]
    assert token.token is not None and token.token.get_secret_value() == "s.new"
    assert (token.ttl_seconds, token.renewable) == (60, True)
    looked_up = client.lookup_token()
    assert (looked_up.token, looked_up.ttl_seconds, looked_up.renewable) == (None, 0, False)
    assert client.renew_token().ttl_seconds == 55
    client.use_token(SecretStr("s.other"))
    assert stub.token == "s.other"
    client.close()
    client.close()
    assert stub.closed == [True]


def test_hvac_errors_from_calls_are_translated() -> None:
    def denied() -> None:
        raise hvac.exceptions.Forbidden(errors=["permission denied"], method="GET", url="http://v/x")

    client, _ = _client(lookup=denied)
    with pytest.raises(CredentialStoreDeniedError, match="VAULT_TOKEN: token lookup: permission denied"):
        client.lookup_token()
