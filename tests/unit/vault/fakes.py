"""A fake ``ProtocolVaultClient``: an in-memory KV v2 store with tokens, AppRole and failure switches."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from omnibase_infra.infrastructure.vault_client import ModelKvSecret, ModelVaultToken
from omnibase_infra.infrastructure.vault_errors import (
    CredentialNotFoundError,
    CredentialStoreDeniedError,
    CredentialStoreError,
    CredentialStoreUnavailableError,
)
from omnibase_infra.infrastructure.vault_settings import ModelVaultSettings, load_vault_settings

ROOT_TOKEN = "s.fake-root-token-0123456789"
ROLE_ID = "role-0b7e4c3a"
SECRET_ID = "secret-id-5f0c1d9e2a"


@dataclass
class _Version:
    values: dict[str, str]
    number: int


@dataclass
class FakeVaultClient:
    """Tokens are strings; ``valid_tokens`` maps each to (ttl, renewable). Calls are recorded by name."""

    valid_tokens: dict[str, tuple[int, bool]] = field(default_factory=lambda: {ROOT_TOKEN: (0, False)})
    approle: dict[str, str] = field(default_factory=lambda: {ROLE_ID: SECRET_ID})
    approle_ttl: int = 60
    lease_seconds: int = 0
    unavailable: bool = False
    renewal_refused: bool = False
    calls: list[str] = field(default_factory=list)
    closed: int = 0
    _secrets: dict[str, _Version] = field(default_factory=dict)
    _token: str | None = None
    _logins: int = 0

    # -- test controls --------------------------------------------------------------
    def write(self, mount: str, path: str, **values: str) -> int:
        key = f"{mount}/{path}"
        number = self._secrets[key].number + 1 if key in self._secrets else 1
        self._secrets[key] = _Version(dict(values), number)
        return number

    def revoke(self, token: str) -> None:
        self.valid_tokens.pop(token, None)

    @property
    def token_in_use(self) -> str | None:
        return self._token

    # -- ProtocolVaultClient -------------------------------------------------------------
    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.unavailable:
            raise CredentialStoreUnavailableError(f"credential store unreachable: {name}: ConnectionError")

    def _require_token(self, operation: str) -> tuple[int, bool]:
        if self._token is None or self._token not in self.valid_tokens:
            raise CredentialStoreDeniedError("VAULT_TOKEN", f"{operation}: permission denied")
        return self.valid_tokens[self._token]

    def login_approle(self, mount: str, role_id: str, secret_id: SecretStr) -> ModelVaultToken:
        self._check("login_approle")
        if self.approle.get(role_id) != secret_id.get_secret_value():
            raise CredentialStoreError("VAULT_ROLE_ID", "AppRole login: invalid role or secret id")
        self._logins += 1
        token = f"s.approle-token-{self._logins:04d}"
        self.valid_tokens[token] = (self.approle_ttl, True)
        self._token = token
        return ModelVaultToken(token=SecretStr(token), ttl_seconds=self.approle_ttl, renewable=True)

    def use_token(self, token: SecretStr) -> None:
        self._token = token.get_secret_value()

    def lookup_token(self) -> ModelVaultToken:
        self._check("lookup_token")
        ttl, renewable = self._require_token("token lookup")
        return ModelVaultToken(ttl_seconds=ttl, renewable=renewable)

    def renew_token(self) -> ModelVaultToken:
        self._check("renew_token")
        ttl, renewable = self._require_token("token renewal")
        if self.renewal_refused or not renewable:
            raise CredentialStoreError("VAULT_TOKEN", "token renewal: lease is not renewable")
        return ModelVaultToken(token=SecretStr(self._token or ""), ttl_seconds=ttl, renewable=renewable)

    def read_kv2(self, mount: str, path: str) -> ModelKvSecret:
        self._check("read_kv2")
        self._require_token(f"read {mount}/{path}")
        found = self._secrets.get(f"{mount}/{path}")
        if found is None:
            raise CredentialNotFoundError("VAULT_KV_MOUNT", f"read {mount}/{path}: not found")
        values = {k: SecretStr(v) for k, v in found.values.items()}
        return ModelKvSecret(values=values, version=found.number, lease_seconds=self.lease_seconds)

    def close(self) -> None:
        self.closed += 1


def token_settings(**overrides: str) -> ModelVaultSettings:
    environ = {
        "VAULT_ADDR": "http://127.0.0.1:8200",
        "VAULT_TOKEN": ROOT_TOKEN,
        "VAULT_POSTGRES_PATH": "onex/postgres",
        "VAULT_KAFKA_PATH": "onex/kafka",
        **overrides,
    }
    settings = load_vault_settings(environ)
    assert settings is not None
    return settings


def approle_settings(**overrides: str) -> ModelVaultSettings:
    environ = {
        "VAULT_ADDR": "http://127.0.0.1:8200",
        "VAULT_ROLE_ID": ROLE_ID,
        "VAULT_SECRET_ID": SECRET_ID,
        "VAULT_POSTGRES_PATH": "onex/postgres",
        "VAULT_KAFKA_PATH": "onex/kafka",
        **overrides,
    }
    settings = load_vault_settings(environ)
    assert settings is not None
    return settings


def seeded_client(**kwargs: object) -> FakeVaultClient:
    client = FakeVaultClient(**kwargs)  # type: ignore[arg-type]
    client.write("secret", "onex/postgres", username="onex_service", password="pg-password-v1")
    client.write("secret", "onex/kafka", username="onex-sasl", password="kafka-password-v1")
    return client
