"""``VaultCredentialProvider``: PostgreSQL and Kafka credentials from a KV v2 credential store.

Guarantees:

- Each target's credentials are read from ``<VAULT_KV_MOUNT>/<path>`` (keys
  ``password``, optionally ``username``) and cached until the secret's lease or
  ``VAULT_REFRESH_INTERVAL`` runs out, whichever is sooner; the next request after
  that reads them again (``force_refresh`` reads at once). Time is the injected clock.
- The token is kept valid by ``VaultTokenKeeper`` (renewed at two thirds of its TTL,
  AppRole login again when refused); a read denied with a token that can be
  replaced is retried once with the new token.
- Every password and token is registered with the log redaction before it is
  returned; log lines name the target, the path and the version, never a value.
- Async reads run hvac in a worker thread under the vault_adapter circuit breaker.
  While the store is unavailable (or the breaker open) the last credentials read
  are served, marked stale, if the contract's ``graceful_degradation`` is on;
  otherwise ``CredentialStoreUnavailableError``/``CircuitOpenError`` is raised.
- One read at a time: a ``threading.Lock`` guards the cache and the client, so the
  synchronous ``read_now`` (used while loading settings) and the async methods can
  be mixed. ``stop()`` is idempotent; reading after it raises ``LifecycleError``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import ConfigurationError, LifecycleError, OutageError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.vault_client import ModelKvSecret, ProtocolVaultClient
from omnibase_infra.infrastructure.vault_errors import (
    CredentialNotFoundError,
    CredentialStoreDeniedError,
    CredentialStoreError,
)
from omnibase_infra.infrastructure.vault_settings import PATH_VARIABLE, ModelVaultSettings
from omnibase_infra.infrastructure.vault_token import VaultTokenKeeper
from omnibase_infra.models.model_vault_credentials import (
    CredentialTarget,
    ModelCredentialStoreStatus,
    ModelCredentialTargetStatus,
    ModelVaultCredentials,
)
from omnibase_infra.observability.redaction import register_secret

if TYPE_CHECKING:
    from omnibase_infra.contract_validation.contract_set import LoadedNodeContract
    from omnibase_infra.environment import EnumEnvironment
    from omnibase_infra.infrastructure.vault_client import VaultClientFactory

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    credentials: ModelVaultCredentials
    expires_at: float  # on the clock's monotonic scale


class VaultCredentialProvider:
    """Reads, caches and refreshes credentials from the store (see the module docstring)."""

    def __init__(
        self,
        settings: ModelVaultSettings,
        client: ProtocolVaultClient,
        *,
        clock: Clock = SYSTEM_CLOCK,
        breaker: EventBusCircuitBreaker | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._clock = clock
        self._breaker = breaker
        self._keeper = VaultTokenKeeper(settings, client, clock)
        self._lock = threading.Lock()
        self._cache: dict[CredentialTarget, _Entry] = {}
        self._errors: dict[CredentialTarget, str] = {}
        self._stale: set[CredentialTarget] = set()
        self._stopped = False

    @classmethod
    def from_contract(
        cls,
        settings: ModelVaultSettings,
        contract: LoadedNodeContract,
        environment: EnumEnvironment,
        *,
        client_factory: VaultClientFactory | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> VaultCredentialProvider:
        """A provider guarded by the breaker of the vault_adapter ``contract`` for ``environment``."""
        from omnibase_infra.infrastructure.vault_client import hvac_client_factory

        breaker = EventBusCircuitBreaker.from_contract(
            contract.circuit_breakers, name="vault", environment=environment, clock=clock
        )
        client = (client_factory or hvac_client_factory)(settings)
        return cls(settings, client, clock=clock, breaker=breaker)

    @property
    def settings(self) -> ModelVaultSettings:
        return self._settings

    @property
    def breaker(self) -> EventBusCircuitBreaker | None:
        return self._breaker

    # -- synchronous core ---------------------------------------------------------------

    def read_now(self, target: CredentialTarget, *, force_refresh: bool = False) -> ModelVaultCredentials:
        """The credentials of ``target``, read from the store when expired (blocking; no breaker)."""
        path = self._path(target)
        with self._lock:
            if self._stopped:
                raise LifecycleError("VaultCredentialProvider was stopped")
            entry = self._cache.get(target)
            if entry is not None and not force_refresh and self._clock.monotonic() < entry.expires_at:
                return entry.credentials
            try:
                credentials = self._read(target, path, entry)
            except Exception as exc:
                self._errors[target] = getattr(exc, "error_class", type(exc).__name__)
                raise
            self._errors.pop(target, None)
            self._stale.discard(target)
            return credentials

    def _path(self, target: CredentialTarget) -> str:
        path = self._settings.path_of(target)
        if path is None:
            variable = PATH_VARIABLE[target]
            raise ConfigurationError(variable, f"is not set: no {target} credentials in the store")
        return path

    def _read(self, target: CredentialTarget, path: str, previous: _Entry | None) -> ModelVaultCredentials:
        mount = self._settings.kv_mount
        self._keeper.ensure()
        try:
            secret = self._read_secret(target, mount, path)
        except CredentialStoreDeniedError:
            if not self._keeper.reauthenticate():
                raise
            secret = self._read_secret(target, mount, path)
        credentials = self._credentials(target, f"{mount}/{path}", secret)
        valid_for = credentials.valid_for_seconds
        self._cache[target] = _Entry(credentials, self._clock.monotonic() + valid_for)
        changed = previous is None or previous.credentials.version != credentials.version
        _log.log(
            logging.INFO if changed else logging.DEBUG,
            "credentials read from the credential store",
            extra={"target": target, "source": credentials.source, "version": credentials.version},
        )
        return credentials

    def _read_secret(self, target: CredentialTarget, mount: str, path: str) -> ModelKvSecret:
        try:
            return self._client.read_kv2(mount, path)
        except CredentialStoreError as exc:
            # Name the variable to fix: the path of this target, not the client's generic one.
            raise type(exc)(PATH_VARIABLE[target], exc.reason) from exc

    def _credentials(
        self, target: CredentialTarget, source: str, secret: ModelKvSecret
    ) -> ModelVaultCredentials:
        password = secret.values.get("password")
        if password is None or not password.get_secret_value():
            keys = ", ".join(sorted(secret.values)) or "none"
            raise CredentialNotFoundError(
                PATH_VARIABLE[target], f"secret {source} has no 'password' key (keys: {keys})"
            )
        register_secret(password)
        username = secret.values.get("username")
        valid_for = self._settings.refresh_interval
        if secret.lease_seconds > 0:
            valid_for = min(valid_for, float(secret.lease_seconds))
        return ModelVaultCredentials(
            target=target,
            username=username.get_secret_value() if username is not None else None,
            password=password,
            source=source,
            version=secret.version,
            fetched_at=self._clock.now(),
            valid_for_seconds=valid_for,
        )

    def close(self) -> None:
        """Stop reading and release the client. A second call does nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._client.close()

    # -- asynchronous API ---------------------------------------------------------------

    async def start(self) -> None:
        """Authenticate and read every configured target (raises what the first failed read raised)."""
        for target in self._settings.targets:
            await self.credentials(target)

    async def stop(self) -> None:
        """Release the client once a read in flight has finished; idempotent."""
        await asyncio.to_thread(self.close)  # close() waits for the lock a worker thread may hold

    def _fresh(self, target: CredentialTarget) -> ModelVaultCredentials | None:
        entry = self._cache.get(target)
        if entry is not None and self._clock.monotonic() < entry.expires_at:
            return entry.credentials
        return None

    async def credentials(
        self, target: CredentialTarget, *, force_refresh: bool = False
    ) -> ModelVaultCredentials:
        """The credentials of ``target``: cached while valid, else read under the breaker."""
        if self._stopped:
            raise LifecycleError("VaultCredentialProvider was stopped")
        fresh = None if force_refresh else self._fresh(target)
        if fresh is not None:
            return fresh

        def read() -> Awaitable[ModelVaultCredentials]:
            return asyncio.to_thread(self.read_now, target, force_refresh=force_refresh)

        try:
            if self._breaker is None:
                return await read()
            return await self._breaker.call(read)
        except (OutageError, TimeoutError) as exc:
            entry = self._cache.get(target)
            degrade = self._breaker is None or self._breaker.config.graceful_degradation
            self._errors[target] = getattr(exc, "error_class", type(exc).__name__)
            if entry is None or not degrade:
                raise
            if target not in self._stale:
                _log.warning(
                    "credential store unavailable (%s); serving the %s credentials read before",
                    self._errors[target],
                    target,
                )
            self._stale.add(target)
            return entry.credentials

    def renew_token_now(self) -> bool:
        """Renew (or replace) the token if two thirds of its TTL have passed (blocking); True if done."""
        with self._lock:
            if self._stopped:
                raise LifecycleError("VaultCredentialProvider was stopped")
            if not self._keeper.renewal_due():
                return False
            self._keeper.ensure()
            return True

    async def refresh_due(self) -> tuple[CredentialTarget, ...]:
        """Renew the token when due and read every target whose credentials expired.

        Returns the targets read from the store (not those served stale). Call it at
        least every third of the token's TTL so that a renewable token never lapses.
        """
        if self._keeper.renewal_due():

            def renew() -> Awaitable[bool]:
                return asyncio.to_thread(self.renew_token_now)

            await (renew() if self._breaker is None else self._breaker.call(renew))
        due = [t for t in self._settings.targets if self._fresh(t) is None]
        for target in due:
            await self.credentials(target)
        return tuple(t for t in due if t not in self._stale)

    def serves(self, target: CredentialTarget) -> bool:
        """Whether the store holds credentials for ``target`` (it is one of the settings' targets)."""
        return target in self._settings.targets

    def password_source(self, target: CredentialTarget) -> Callable[[], Awaitable[str]]:
        """An async callable returning the current password (asyncpg accepts it as ``password``)."""

        async def current_password() -> str:
            return (await self.credentials(target)).password.get_secret_value()

        return current_password

    def status(self) -> ModelCredentialStoreStatus:
        """The store's status for health output; no token, no credential."""
        now = self._clock.monotonic()
        targets = []
        for target in self._settings.targets:
            entry = self._cache.get(target)
            targets.append(
                ModelCredentialTargetStatus(
                    target=target,
                    source=f"{self._settings.kv_mount}/{self._settings.path_of(target)}",
                    version=entry.credentials.version if entry else None,
                    fetched_at=entry.credentials.fetched_at if entry else None,
                    expires_in_seconds=entry.expires_at - now if entry else None,
                    stale=target in self._stale,
                    last_error=self._errors.get(target),
                )
            )
        return ModelCredentialStoreStatus(
            address=self._settings.address,
            auth_method=self._settings.auth_method,
            authenticated=self._keeper.authenticated,
            token_expires_in_seconds=self._keeper.expires_in(),
            token_renewable=self._keeper.renewable,
            logins=self._keeper.logins,
            renewals=self._keeper.renewals,
            breaker_state=self._breaker.state if self._breaker is not None else None,
            targets=tuple(targets),
        )


__all__ = ["VaultCredentialProvider"]
