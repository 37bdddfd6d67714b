"""Masking of secrets in anything the service writes out: log lines, span events, HTTP bodies.

Two kinds of secrets are masked with ``***``:

- values registered with ``register_secret`` (database and SASL passwords, the admin
  token; ``register_settings_secrets`` registers every secret of the settings at once);
- the password part of any DSN/URL (``scheme://user:PASSWORD@host``) and of a libpq
  keyword string (``password=PASSWORD``), registered or not.

Guarantees: ``redact`` never returns a registered value as a substring of its result;
it is idempotent; the registry is safe to use from several threads (log handlers run
in executor threads too). Longer secrets are replaced first, so a secret containing
another is masked whole.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from omnibase_infra.json_types import JsonValue

if TYPE_CHECKING:
    from omnibase_infra.settings import ModelInfraSettings

MASK = "***"

# scheme://user:password@host — the userinfo password ends at the last "@" before the host.
_DSN_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+._\-]*://[^\s:/@]*:)(?P<secret>[^\s@/]+)(?=@)")
# libpq keyword/value strings and the like: password=... or password='...'
_KEYWORD_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?P<secret>'[^']*'|\"[^\"]*\"|[^\s,;&]+)", re.IGNORECASE
)


class SecretRegistry:
    """A set of secret values to mask; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def register(self, value: str | SecretStr | None) -> None:
        """Add ``value`` (a ``SecretStr`` is unwrapped); ``None`` and empty strings are ignored."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not raw:
            return
        with self._lock:
            if raw in self._secrets:
                return
            # Longest first, so that a secret containing another is replaced whole.
            self._secrets = tuple(sorted((*self._secrets, raw), key=len, reverse=True))

    def clear(self) -> None:
        """Forget every registered value (tests)."""
        with self._lock:
            self._secrets = ()

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered value and every DSN/keyword password masked."""
        secrets = self._secrets  # one atomic read of an immutable tuple
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _DSN_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
        return _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, text)

    def redact_json(self, value: JsonValue) -> JsonValue:
        """Redact every string (keys included) inside a JSON-compatible value."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact(str(k)): self.redact_json(v) for k, v in value.items()}
        if isinstance(value, Sequence):
            return [self.redact_json(v) for v in value]
        return value


DEFAULT_REGISTRY = SecretRegistry()


def register_secret(value: str | SecretStr | None) -> None:
    """Register ``value`` in the process-wide registry used by logging, spans and HTTP bodies."""
    DEFAULT_REGISTRY.register(value)


def register_settings_secrets(settings: ModelInfraSettings) -> None:
    """Register every secret the settings hold: passwords, the admin token, OTLP header values."""
    register_secret(settings.postgres.password)
    register_secret(settings.kafka_security.sasl_password)
    register_secret(settings.admin_token)
    register_otlp_headers(DEFAULT_REGISTRY, settings)


OTLP_HEADER_SECRET_MIN_LENGTH = 8


def register_otlp_headers(registry: SecretRegistry, settings: ModelInfraSettings) -> None:
    """Register the OTLP headers (``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS``): the whole list, and
    each value of at least ``OTLP_HEADER_SECRET_MIN_LENGTH`` characters.

    A header is often a collector credential (``authorization=Bearer ...``, ``api-key=...``).
    Short values (a tenant or dataset name) are not registered: masking them would garble every
    log line that happens to contain the word, and a credential is never that short.
    """
    from omnibase_infra.observability.otlp_endpoint import parse_headers

    headers = settings.telemetry.otlp_headers
    registry.register(headers)
    for value in parse_headers(headers).values():
        if len(value) >= OTLP_HEADER_SECRET_MIN_LENGTH:
            registry.register(value)


def redact(text: str) -> str:
    """Mask secrets in ``text`` using the process-wide registry."""
    return DEFAULT_REGISTRY.redact(text)


def redact_json(value: JsonValue) -> JsonValue:
    """Mask secrets in every string of a JSON-compatible value using the process-wide registry."""
    return DEFAULT_REGISTRY.redact_json(value)


__all__ = [
    "DEFAULT_REGISTRY",
    "MASK",
    "OTLP_HEADER_SECRET_MIN_LENGTH",
    "SecretRegistry",
    "redact",
    "redact_json",
    "register_otlp_headers",
    "register_secret",
    "register_settings_secrets",
]
