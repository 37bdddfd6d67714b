"""Where the credential store is and how to log in, read from ``VAULT_*`` variables.

The store is used only when ``VAULT_ADDR`` is set (``load_vault_settings`` returns
``None`` otherwise). Variables:

- ``VAULT_ADDR``: ``http(s)://host:port`` of a Vault-compatible server (Vault, OpenBao).
- Authentication, exactly one of: ``VAULT_TOKEN`` (or ``VAULT_TOKEN_FILE``, re-read when
  the token stops working, as a Vault agent sink rewrites it), or AppRole with
  ``VAULT_ROLE_ID`` and ``VAULT_SECRET_ID`` (or ``VAULT_SECRET_ID_FILE``) at
  ``VAULT_APPROLE_MOUNT`` (default ``approle``).
- ``VAULT_KV_MOUNT`` (default ``secret``): the KV version 2 mount.
- ``VAULT_POSTGRES_PATH`` / ``VAULT_KAFKA_PATH``: the secrets holding the PostgreSQL
  and the Kafka SASL credentials (keys ``password`` and optionally ``username``); at
  least one is required.
- ``VAULT_REFRESH_INTERVAL`` (seconds, default 300): credentials are read again after
  this long, or sooner when the secret's lease is shorter.
- ``VAULT_TIMEOUT`` (seconds, default 10), ``VAULT_NAMESPACE``, ``VAULT_CACERT``.

All problems are reported together in one ``ConfigurationError`` naming the variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.models.model_vault_credentials import CredentialTarget
from omnibase_infra.observability.redaction import register_secret

CREDENTIAL_TARGETS: tuple[CredentialTarget, ...] = ("postgres", "kafka")
PATH_VARIABLE: dict[CredentialTarget, str] = {
    "postgres": "VAULT_POSTGRES_PATH",
    "kafka": "VAULT_KAFKA_PATH",
}
_SEGMENT = r"[A-Za-z0-9_.\-]+"


class ModelVaultSettings(BaseModel):
    """How to reach and log in to the credential store, and which secrets to read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = Field(pattern=r"^https?://[^\s/]+/?$")
    token: SecretStr | None = None
    token_file: Path | None = None
    role_id: str | None = None
    secret_id: SecretStr | None = None
    approle_mount: str = Field(default="approle", pattern=rf"^{_SEGMENT}(/{_SEGMENT})*$")
    namespace: str | None = None
    ca_file: str | None = None
    kv_mount: str = Field(default="secret", pattern=rf"^{_SEGMENT}(/{_SEGMENT})*$")
    postgres_path: str | None = Field(default=None, pattern=rf"^{_SEGMENT}(/{_SEGMENT})*$")
    kafka_path: str | None = Field(default=None, pattern=rf"^{_SEGMENT}(/{_SEGMENT})*$")
    refresh_interval: float = Field(default=300.0, gt=0, le=86_400)
    timeout: float = Field(default=10.0, gt=0, le=300)

    @property
    def auth_method(self) -> Literal["token", "approle"]:
        return "approle" if self.role_id is not None else "token"

    def path_of(self, target: CredentialTarget) -> str | None:
        """The KV path configured for ``target``, or None when it is not read from the store."""
        return self.postgres_path if target == "postgres" else self.kafka_path

    @property
    def targets(self) -> tuple[CredentialTarget, ...]:
        """The targets whose credentials come from the store."""
        return tuple(t for t in CREDENTIAL_TARGETS if self.path_of(t) is not None)


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _secret(
    environ: Mapping[str, str], name: str, problems: list[tuple[str, str]]
) -> tuple[SecretStr | None, Path | None]:
    """``(value, file)`` from ``<name>_FILE`` (preferred) or ``<name>``."""
    file_name = _text(environ, f"{name}_FILE")
    if file_name is not None:
        path = Path(file_name)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append((f"{name}_FILE", f"cannot read secret file: {exc.strerror}"))
            return None, path
        if not value:
            problems.append((f"{name}_FILE", "the secret file is empty"))
            return None, path
        return SecretStr(value), path
    value = environ.get(name, "").strip()
    return (SecretStr(value) if value else None), None


def read_token_file(path: Path) -> SecretStr:
    """The token in ``path`` (stripped); ``ConfigurationError`` naming VAULT_TOKEN_FILE otherwise."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError("VAULT_TOKEN_FILE", f"cannot read secret file: {exc.strerror}") from None
    if not value:
        raise ConfigurationError("VAULT_TOKEN_FILE", "the secret file is empty")
    token = SecretStr(value)
    register_secret(token)
    return token


def _seconds(environ: Mapping[str, str], name: str, default: float, problems: list[tuple[str, str]]) -> float:
    raw = _text(environ, name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        problems.append((name, f"{raw!r} is not a number of seconds"))
        return default


_FIELD_VARIABLE = {
    "address": "VAULT_ADDR",
    "approle_mount": "VAULT_APPROLE_MOUNT",
    "kv_mount": "VAULT_KV_MOUNT",
    "postgres_path": "VAULT_POSTGRES_PATH",
    "kafka_path": "VAULT_KAFKA_PATH",
    "refresh_interval": "VAULT_REFRESH_INTERVAL",
    "timeout": "VAULT_TIMEOUT",
}


def _raise(problems: list[tuple[str, str]]) -> None:
    if problems:
        names = ", ".join(dict.fromkeys(name for name, _ in problems))
        raise ConfigurationError(names, "; ".join(f"{name} {reason}" for name, reason in problems))


def load_vault_settings(environ: Mapping[str, str]) -> ModelVaultSettings | None:
    """The store settings, or None when ``VAULT_ADDR`` is unset; ``ConfigurationError`` when invalid."""
    address = _text(environ, "VAULT_ADDR")
    if address is None:
        return None
    problems: list[tuple[str, str]] = []
    token, token_file = _secret(environ, "VAULT_TOKEN", problems)
    secret_id, _ = _secret(environ, "VAULT_SECRET_ID", problems)
    role_id = _text(environ, "VAULT_ROLE_ID")
    has_token = token is not None or token_file is not None
    if role_id is not None and has_token:
        problems.append(("VAULT_TOKEN", "and VAULT_ROLE_ID are both set; use one way of logging in"))
    elif role_id is None and not has_token:
        problems.append(("VAULT_TOKEN", "or VAULT_ROLE_ID with VAULT_SECRET_ID is required with VAULT_ADDR"))
    if role_id is not None and secret_id is None:
        problems.append(("VAULT_SECRET_ID", "is required with VAULT_ROLE_ID"))
    postgres_path = _text(environ, "VAULT_POSTGRES_PATH")
    kafka_path = _text(environ, "VAULT_KAFKA_PATH")
    if postgres_path is None and kafka_path is None:
        problems.append(("VAULT_POSTGRES_PATH", "or VAULT_KAFKA_PATH is required with VAULT_ADDR"))
    fields = {
        "address": address,
        "token": token,
        "token_file": token_file,
        "role_id": role_id,
        "secret_id": secret_id,
        "approle_mount": _text(environ, "VAULT_APPROLE_MOUNT") or "approle",
        "namespace": _text(environ, "VAULT_NAMESPACE"),
        "ca_file": _text(environ, "VAULT_CACERT"),
        "kv_mount": (_text(environ, "VAULT_KV_MOUNT") or "secret").strip("/"),
        "postgres_path": postgres_path.strip("/") if postgres_path else None,
        "kafka_path": kafka_path.strip("/") if kafka_path else None,
        "refresh_interval": _seconds(environ, "VAULT_REFRESH_INTERVAL", 300.0, problems),
        "timeout": _seconds(environ, "VAULT_TIMEOUT", 10.0, problems),
    }
    register_secret(token)
    register_secret(secret_id)
    _raise(problems)
    try:
        return ModelVaultSettings.model_validate(fields)
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "settings"
            problems.append((_FIELD_VARIABLE.get(field, f"VAULT_{field.upper()}"), err["msg"]))
        _raise(problems)
        raise  # unreachable: _raise raised


__all__ = [
    "CREDENTIAL_TARGETS",
    "PATH_VARIABLE",
    "ModelVaultSettings",
    "load_vault_settings",
    "read_token_file",
]
