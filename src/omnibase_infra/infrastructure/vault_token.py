"""``VaultTokenKeeper``: keeps a working token in the Vault client.

- AppRole: logs in, renews the token once two thirds of its TTL have passed, and
  logs in again when a renewal is refused or a request is denied.
- Static token (``VAULT_TOKEN``/``VAULT_TOKEN_FILE``): looks it up to learn its TTL,
  renews it the same way when renewable; a token file is read again on every
  authentication, so a token rewritten by a Vault agent is picked up.
- A token with TTL 0 (e.g. a root token) never expires and is never renewed.

Every token is registered with the log redaction before it is used. Time comes
from the injected clock. Not thread-safe: ``VaultCredentialProvider`` calls it
under its lock.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

from omnibase_infra.clock import Clock
from omnibase_infra.infrastructure.vault_client import ModelVaultToken, ProtocolVaultClient
from omnibase_infra.infrastructure.vault_errors import CredentialStoreError
from omnibase_infra.infrastructure.vault_settings import ModelVaultSettings, read_token_file
from omnibase_infra.observability.redaction import register_secret

RENEW_AFTER_FRACTION = 2 / 3
"""Renew once this fraction of the token's TTL has passed."""

_log = logging.getLogger(__name__)


class VaultTokenKeeper:
    """Authenticates the client and keeps its token valid (see the module docstring)."""

    def __init__(self, settings: ModelVaultSettings, client: ProtocolVaultClient, clock: Clock) -> None:
        self._settings = settings
        self._client = client
        self._clock = clock
        self._obtained_at: float | None = None
        self._ttl = 0
        self._renewable = False
        self._static_token: SecretStr | None = None
        self.logins = 0
        self.renewals = 0

    @property
    def authenticated(self) -> bool:
        return self._obtained_at is not None

    @property
    def renewable(self) -> bool:
        return self._renewable

    def expires_in(self) -> float | None:
        """Seconds until the token expires; None when it never does or before authentication."""
        if self._obtained_at is None or self._ttl == 0:
            return None
        return self._obtained_at + self._ttl - self._clock.monotonic()

    def renewal_due(self) -> bool:
        if self._obtained_at is None or self._ttl == 0:
            return False
        return self._clock.monotonic() >= self._obtained_at + self._ttl * RENEW_AFTER_FRACTION

    def ensure(self) -> None:
        """Authenticate if not yet done; renew (or log in again) when renewal is due."""
        if self._obtained_at is None:
            self.authenticate()
        elif self.renewal_due():
            self._renew()

    def authenticate(self) -> None:
        """Log in (AppRole) or take the configured token and look it up."""
        settings = self._settings
        if settings.auth_method == "approle":
            if settings.role_id is None or settings.secret_id is None:  # guaranteed by load_vault_settings
                raise CredentialStoreError("VAULT_ROLE_ID", "AppRole needs VAULT_ROLE_ID and VAULT_SECRET_ID")
            info = self._client.login_approle(settings.approle_mount, settings.role_id, settings.secret_id)
            if info.token is None:
                raise CredentialStoreError("VAULT_ROLE_ID", "AppRole login returned no token")
            register_secret(info.token)
            self._client.use_token(info.token)
        else:
            token = self._configured_token()
            register_secret(token)
            self._client.use_token(token)
            self._static_token = token
            info = self._client.lookup_token()
        self.logins += 1
        self._accept(info)
        _log.info(
            "authenticated to the credential store",
            extra={"auth_method": settings.auth_method, "token_ttl_seconds": info.ttl_seconds},
        )

    def reauthenticate(self) -> bool:
        """After a denied request, get a new token if one can be had; True when the token changed."""
        if self._settings.auth_method == "approle":
            self.authenticate()
            return True
        if self._settings.token_file is None:
            return False
        if read_token_file(self._settings.token_file) == self._static_token:
            return False
        self.authenticate()
        return True

    def _configured_token(self) -> SecretStr:
        if self._settings.token_file is not None:
            return read_token_file(self._settings.token_file)
        if self._settings.token is None:  # guaranteed by load_vault_settings
            raise CredentialStoreError("VAULT_TOKEN", "no token configured")
        return self._settings.token

    def _renew(self) -> None:
        if self._renewable:
            try:
                info = self._client.renew_token()
            except CredentialStoreError as exc:
                _log.warning("token renewal refused (%s); authenticating again", exc.error_class)
            else:
                if info.token is not None:
                    register_secret(info.token)
                self.renewals += 1
                self._accept(info)
                return
        self.authenticate()

    def _accept(self, info: ModelVaultToken) -> None:
        self._obtained_at = self._clock.monotonic()
        self._ttl = info.ttl_seconds
        self._renewable = info.renewable


__all__ = ["RENEW_AFTER_FRACTION", "VaultTokenKeeper"]
