"""Errors of the credential store (a Vault-compatible KV v2 server).

    ConfigurationError (errors.py)
    └── CredentialStoreError              the store answered, but not with usable credentials
        ├── CredentialStoreDeniedError    401/403: the token is invalid, expired or lacks a policy
        └── CredentialNotFoundError       404: no secret (or no such key) at the configured path
    OutageError (errors.py)
    └── CredentialStoreUnavailableError   unreachable, timed out, sealed, 5xx, rate limited

A ``CredentialStoreError`` is configuration: it never trips a breaker and stops
startup with the variable to fix. An unavailable store counts against the
vault_adapter breaker. Messages name the mount, the path and the HTTP status,
never a token, a secret id or a credential.
"""

from __future__ import annotations

from omnibase_infra.errors import ConfigurationError, OutageError


class CredentialStoreError(ConfigurationError):
    """The credential store refused or could not satisfy a request; ``variable`` says what to fix."""

    error_class = "credential_store_error"


class CredentialStoreDeniedError(CredentialStoreError):
    """The store rejected the token (HTTP 401/403)."""

    error_class = "credential_store_denied"


class CredentialNotFoundError(CredentialStoreError):
    """No secret, or no required key in it, at the configured path."""

    error_class = "credential_not_found"


class CredentialStoreUnavailableError(OutageError):
    """The store is unreachable or unavailable; retried later, counted by the breaker."""

    error_class = "credential_store_unavailable"


__all__ = [
    "CredentialNotFoundError",
    "CredentialStoreDeniedError",
    "CredentialStoreError",
    "CredentialStoreUnavailableError",
]
