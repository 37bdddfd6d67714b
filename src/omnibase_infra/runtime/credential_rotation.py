"""``CredentialRotation``: rotated credentials from the store reach every client that uses them.

The credential provider re-reads each secret when its ``VAULT_REFRESH_INTERVAL`` (or
lease) runs out; this module compares what it read with what the clients are using
and, when the username or the password changed, calls the target's renewers:

- ``postgres``: the pool switches to the new user and retires every connection opened
  with the old credentials (``PostgresConnectionManager.renew_credentials``);
- ``kafka``: the producer pool and the consumer are rebuilt with the new SASL
  credentials (aiokafka takes them at construction), the consumer only after its
  batch in flight is applied and committed.

Guarantees:

- A new KV version with the same username and password renews nothing.
- Renewers of a target run in order; when one raises, the credentials are not taken
  as in use, a warning names the target and the error class (never a value), and the
  next round tries again (the old credentials keep working meanwhile, as they do
  until the operator revokes them).
- ``run`` checks every ``every`` seconds (injected clock-free wait on an event, so
  ``stop`` is immediate); a rotated secret is in use at most ``VAULT_REFRESH_INTERVAL``
  plus one check period after it was written, plus the time the renewers take.
- Passwords are compared in constant time and never logged: a log line names the
  target, the KV version and the error class.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.models.model_vault_credentials import CredentialTarget, ModelVaultCredentials

_log = logging.getLogger(__name__)

Renewer = Callable[[ModelVaultCredentials], Awaitable[object]]
"""Switches one client to the given credentials; raises when it could not."""


class ProtocolRotatingSource(Protocol):
    """The part of the credential provider rotation needs."""

    async def credentials(
        self, target: CredentialTarget, *, force_refresh: bool = False
    ) -> ModelVaultCredentials: ...

    async def refresh_due(self) -> tuple[CredentialTarget, ...]: ...


@dataclass(frozen=True)
class InUse:
    """The credentials a target's clients are using now (``username`` None: the configured one)."""

    username: str | None
    password: SecretStr | None
    version: int | None = None

    def same_as(self, credentials: ModelVaultCredentials) -> bool:
        if credentials.username is not None and credentials.username != self.username:
            return False
        if self.password is None:
            return False
        return hmac.compare_digest(
            credentials.password.get_secret_value().encode(), self.password.get_secret_value().encode()
        )


class CredentialRotation:
    """Applies rotated credentials to the renewers of each target (see the module docstring)."""

    def __init__(
        self,
        source: ProtocolRotatingSource,
        renewers: Mapping[CredentialTarget, Sequence[Renewer]],
        in_use: Mapping[CredentialTarget, InUse],
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._source = source
        self._renewers = {target: tuple(renewers.get(target, ())) for target in in_use}
        self._in_use = dict(in_use)
        self._clock = clock
        self._lock = asyncio.Lock()

    def in_use(self, target: CredentialTarget) -> InUse:
        """What the clients of ``target`` use now (``KeyError`` for a target not rotated)."""
        return self._in_use[target]

    async def check(self) -> tuple[CredentialTarget, ...]:
        """Renew every target whose current credentials differ from those in use; the targets renewed."""
        renewed: list[CredentialTarget] = []
        async with self._lock:
            for target, current in list(self._in_use.items()):
                credentials = await self._source.credentials(target)
                if current.same_as(credentials):
                    if credentials.version != current.version:
                        self._in_use[target] = InUse(current.username, current.password, credentials.version)
                    continue
                if await self._renew(target, credentials):
                    renewed.append(target)
        return tuple(renewed)

    async def _renew(self, target: CredentialTarget, credentials: ModelVaultCredentials) -> bool:
        started = self._clock.monotonic()
        try:
            for renew in self._renewers[target]:
                await renew(credentials)
        except Exception as exc:
            error = getattr(exc, "error_class", None) or type(exc).__name__
            _log.warning(
                "rotated %s credentials (version %s) not taken into use: %s; retrying at the next refresh",
                target,
                credentials.version,
                error,
            )
            return False
        previous = self._in_use[target]
        self._in_use[target] = InUse(
            credentials.username or previous.username, credentials.password, credentials.version
        )
        _log.info(
            "credentials rotated",
            extra={
                "target": target,
                "version": credentials.version,
                "username_changed": credentials.username is not None
                and credentials.username != previous.username,
                "renew_seconds": round(self._clock.monotonic() - started, 3),
            },
        )
        return True

    async def run(self, stopping: asyncio.Event, *, every: float) -> None:
        """Refresh due credentials and ``check`` every ``every`` seconds until ``stopping``; never raises."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), every)
            if stopping.is_set():
                return
            try:
                await self._source.refresh_due()
                await self.check()
            except Exception as exc:
                _log.warning(
                    "credential refresh failed: %s", getattr(exc, "error_class", None) or type(exc).__name__
                )


__all__ = ["CredentialRotation", "InUse", "ProtocolRotatingSource", "Renewer"]
