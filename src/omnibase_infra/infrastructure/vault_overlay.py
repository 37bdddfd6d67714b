"""The settings hook: when ``VAULT_ADDR`` is set, credentials come from the credential store.

``overlay_vault_credentials(environ)`` returns ``environ`` itself when ``VAULT_ADDR``
is unset. Otherwise it reads the configured secrets once and returns a copy of
``environ`` in which they replace the variables ``load_settings`` reads:

- postgres: ``password`` → POSTGRES_PASSWORD (POSTGRES_PASSWORD_FILE is dropped),
  ``username`` → POSTGRES_USER;
- kafka: ``password`` → KAFKA_SASL_PASSWORD (KAFKA_SASL_PASSWORD_FILE is dropped),
  ``username`` → KAFKA_SASL_USERNAME.

The copy lives only in memory (``os.environ`` is never written). Every value read
is registered with the log redaction. Any failure raises ``ConfigurationError``
naming the variable to fix: a store that cannot be reached names ``VAULT_ADDR``,
so the service refuses to start with a clear message instead of running with
other credentials.
"""

from __future__ import annotations

from collections.abc import Mapping

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import ConfigurationError, OutageError
from omnibase_infra.infrastructure.vault_client import VaultClientFactory
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.infrastructure.vault_settings import PATH_VARIABLE, load_vault_settings
from omnibase_infra.models.model_vault_credentials import CredentialTarget

OVERLAID_VARIABLES: dict[CredentialTarget, tuple[str, str]] = {
    "postgres": ("POSTGRES_USER", "POSTGRES_PASSWORD"),
    "kafka": ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"),
}
"""(username variable, password variable) each target's secret replaces."""


def overlay_vault_credentials(
    environ: Mapping[str, str],
    *,
    client_factory: VaultClientFactory | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Mapping[str, str]:
    """``environ`` with the store's credentials in place (see the module docstring)."""
    settings = load_vault_settings(environ)
    if settings is None:
        return environ
    if client_factory is None:
        from omnibase_infra.infrastructure.vault_client import hvac_client_factory

        client_factory = hvac_client_factory
    provider = VaultCredentialProvider(settings, client_factory(settings), clock=clock)
    merged = dict(environ)
    try:
        for target in settings.targets:
            try:
                credentials = provider.read_now(target)
            except OutageError as exc:
                what = f"cannot read {PATH_VARIABLE[target]} from {settings.address}"
                raise ConfigurationError("VAULT_ADDR", f"{what}: {exc.message}") from exc
            user_variable, password_variable = OVERLAID_VARIABLES[target]
            merged.pop(f"{password_variable}_FILE", None)
            merged[password_variable] = credentials.password.get_secret_value()
            if credentials.username:
                merged[user_variable] = credentials.username
    finally:
        provider.close()
    return merged


__all__ = ["OVERLAID_VARIABLES", "overlay_vault_credentials"]
