"""The typed seam to a Vault-compatible server, and its hvac implementation.

``ProtocolVaultClient`` is all the credential provider needs: log in with AppRole,
use, look up and renew a token, read a KV version 2 secret. ``HvacVaultClient``
implements it with hvac (untyped, so it stays behind this seam and its answers are
validated into the frozen models below). Tests use a fake with the same methods.

Every method is synchronous (hvac uses ``requests``); async callers run it in a
worker thread. Errors are translated into ``vault_errors``: 401/403 →
``CredentialStoreDeniedError``, 404 → ``CredentialNotFoundError``, other 4xx →
``CredentialStoreError``, 5xx/429/sealed, connection errors and timeouts →
``CredentialStoreUnavailableError``, a TLS verification failure →
``CredentialStoreError`` (VAULT_CACERT). Messages carry the operation, the status
and the server's error text, never the token or a secret value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NoReturn, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from omnibase_infra.infrastructure.vault_errors import (
    CredentialNotFoundError,
    CredentialStoreDeniedError,
    CredentialStoreError,
    CredentialStoreUnavailableError,
)
from omnibase_infra.infrastructure.vault_settings import ModelVaultSettings

T = TypeVar("T")
_FROZEN = ConfigDict(frozen=True, extra="ignore")


class ModelVaultToken(BaseModel):
    """What the server says about a token. ``ttl_seconds`` 0 means it never expires."""

    model_config = _FROZEN

    token: SecretStr | None = Field(default=None, description="set after a login or a renewal")
    ttl_seconds: int = Field(ge=0)
    renewable: bool = False


class ModelKvSecret(BaseModel):
    """One KV v2 secret version: its scalar values (as secrets), version and lease."""

    model_config = _FROZEN

    values: dict[str, SecretStr]
    version: int | None = None
    lease_seconds: int = Field(default=0, ge=0)


class ProtocolVaultClient(Protocol):
    """The operations the credential provider performs against the store."""

    def login_approle(self, mount: str, role_id: str, secret_id: SecretStr) -> ModelVaultToken:
        """Log in with AppRole and use the new token from now on."""
        ...

    def use_token(self, token: SecretStr) -> None:
        """Send ``token`` with every following request."""
        ...

    def lookup_token(self) -> ModelVaultToken:
        """TTL and renewability of the token in use (``token`` is not returned)."""
        ...

    def renew_token(self) -> ModelVaultToken:
        """Renew the token in use; raises if it is not renewable."""
        ...

    def read_kv2(self, mount: str, path: str) -> ModelKvSecret:
        """The latest version of the KV v2 secret at ``mount``/``path``."""
        ...

    def close(self) -> None:
        """Release the HTTP session. A second call does nothing."""
        ...


VaultClientFactory = Callable[[ModelVaultSettings], ProtocolVaultClient]
"""Builds a client for the settings (``HvacVaultClient`` unless a test injects a fake)."""

_DENIED = frozenset({"Unauthorized", "Forbidden"})
_NOT_FOUND = frozenset({"InvalidPath"})
_UNAVAILABLE = frozenset(
    {"VaultDown", "InternalServerError", "BadGateway", "RateLimitExceeded", "VaultNotInitialized"}
)
# requests' exceptions, matched by class name so that requests need not be imported (untyped).
_TLS = frozenset({"SSLError"})
_NETWORK = frozenset({"ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout", "ChunkedEncodingError"})


def _server_text(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)[:300]
    return type(exc).__name__


def translate_error(exc: Exception, operation: str, variable: str) -> NoReturn:
    """Raise the ``vault_errors`` equivalent of an hvac/requests exception raised by ``operation``."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    reason = f"{operation}: {_server_text(exc)}"
    if names & _DENIED:
        raise CredentialStoreDeniedError(variable, f"{reason} (permission denied)") from exc
    if names & _NOT_FOUND:
        raise CredentialNotFoundError(variable, f"{reason} (not found)") from exc
    if names & _UNAVAILABLE:
        raise CredentialStoreUnavailableError(f"credential store unavailable: {reason}") from exc
    if names & _TLS:
        raise CredentialStoreError("VAULT_CACERT", f"{operation}: TLS verification failed") from exc
    if names & _NETWORK or isinstance(exc, (OSError, TimeoutError)):
        raise CredentialStoreUnavailableError(
            f"credential store unreachable: {operation}: {type(exc).__name__}"
        ) from exc
    if "VaultError" in names:
        raise CredentialStoreError(variable, reason) from exc
    raise exc


def _mapping(data: object, operation: str) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise CredentialStoreError("VAULT_ADDR", f"{operation}: the server's answer is not a JSON object")
    return data


class HvacVaultClient:
    """``ProtocolVaultClient`` over ``hvac.Client`` (one HTTP session, not thread-safe: callers serialise)."""

    def __init__(self, settings: ModelVaultSettings) -> None:
        import hvac  # type: ignore[import-untyped]  # hvac ships no type information; typed by this class

        self._client = hvac.Client(
            url=settings.address,
            token=None,
            verify=settings.ca_file if settings.ca_file else True,
            timeout=settings.timeout,
            namespace=settings.namespace,
        )
        self._closed = False

    def _call(self, operation: str, variable: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            translate_error(exc, operation, variable)

    def login_approle(self, mount: str, role_id: str, secret_id: SecretStr) -> ModelVaultToken:
        answer: object = self._call(
            "AppRole login",
            "VAULT_ROLE_ID",
            lambda: self._client.auth.approle.login(
                role_id=role_id, secret_id=secret_id.get_secret_value(), mount_point=mount, use_token=True
            ),
        )
        return _token_from_auth(answer, "AppRole login")

    def use_token(self, token: SecretStr) -> None:
        self._client.token = token.get_secret_value()

    def lookup_token(self) -> ModelVaultToken:
        answer: object = self._call("token lookup", "VAULT_TOKEN", self._client.auth.token.lookup_self)
        data = _mapping(answer, "token lookup").get("data")
        body = _mapping(data, "token lookup")
        return _parse(
            ModelVaultToken,
            {"ttl_seconds": body.get("ttl") or 0, "renewable": bool(body.get("renewable"))},
            "token lookup",
        )

    def renew_token(self) -> ModelVaultToken:
        answer: object = self._call("token renewal", "VAULT_TOKEN", self._client.auth.token.renew_self)
        return _token_from_auth(answer, "token renewal")

    def read_kv2(self, mount: str, path: str) -> ModelKvSecret:
        operation = f"read {mount}/{path}"
        answer: object = self._call(
            operation,
            "VAULT_KV_MOUNT",
            lambda: self._client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, raise_on_deleted_version=True
            ),
        )
        top = _mapping(answer, operation)
        outer = _mapping(top.get("data"), operation)
        data = _mapping(outer.get("data"), operation)
        metadata = outer.get("metadata")
        version = metadata.get("version") if isinstance(metadata, Mapping) else None
        values = {
            str(key): str(value)
            for key, value in data.items()
            if isinstance(value, (str, int, float)) and not isinstance(value, bool)
        }
        return _parse(
            ModelKvSecret,
            {"values": values, "version": version, "lease_seconds": top.get("lease_duration") or 0},
            operation,
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.adapter.close()


def _token_from_auth(answer: object, operation: str) -> ModelVaultToken:
    auth = _mapping(_mapping(answer, operation).get("auth"), operation)
    return _parse(
        ModelVaultToken,
        {
            "token": auth.get("client_token"),
            "ttl_seconds": auth.get("lease_duration") or 0,
            "renewable": bool(auth.get("renewable")),
        },
        operation,
    )


def _parse[M: BaseModel](model: type[M], data: Mapping[str, object], operation: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        # from None: pydantic would quote the input, which may hold a token.
        raise CredentialStoreError("VAULT_ADDR", f"{operation}: unexpected answer ({fields})") from None


def hvac_client_factory(settings: ModelVaultSettings) -> ProtocolVaultClient:
    """The default ``VaultClientFactory``."""
    return HvacVaultClient(settings)


__all__ = [
    "HvacVaultClient",
    "ModelKvSecret",
    "ModelVaultToken",
    "ProtocolVaultClient",
    "VaultClientFactory",
    "hvac_client_factory",
    "translate_error",
]
