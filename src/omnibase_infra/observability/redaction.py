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

import json
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
        self._escaped: tuple[str, ...] = ()
        """Each secret as it appears inside a JSON string, escaped by ``json.dumps`` with and
        without ``ensure_ascii``: a string holds the secret exactly when its JSON text holds one
        of these (escaping is per character)."""

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
            forms = {
                json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
                for secret in self._secrets
                for ascii_only in (False, True)
            }
            self._escaped = tuple(forms)

    def clear(self) -> None:
        """Forget every registered value (tests)."""
        with self._lock:
            self._secrets = ()
            self._escaped = ()

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered value and every DSN/keyword password masked.

        Each pattern runs only on a text that holds what it needs to match (``://`` and ``@``
        for a DSN, ``=`` for a keyword): the result is the same, and most texts (names, ids,
        numbers) cost a few substring checks.
        """
        secrets = self._secrets  # one atomic read of an immutable tuple
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "://" in text and "@" in text:
            text = _DSN_PASSWORD.sub(_masked, text)
        if "=" in text:
            text = _KEYWORD_PASSWORD.sub(_masked, text)
        return text

    def redact_json(self, value: JsonValue) -> JsonValue:
        """Redact every string (keys included) inside a JSON-compatible value."""
        # Concrete types first: an isinstance against the abstract Mapping/Sequence is slow.
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, int | float):  # bool is an int
            return value
        if isinstance(value, dict) or isinstance(value, Mapping):  # noqa: SIM101 - dict first: fast
            return {self.redact(str(k)): self.redact_json(v) for k, v in value.items()}
        if isinstance(value, list) or isinstance(value, Sequence):  # noqa: SIM101 - list first: fast
            return [self.redact_json(v) for v in value]
        return value

    def clean_json_text(self, text: str) -> bool:
        """Whether ``redact`` would leave every string of the JSON text ``text`` unchanged: it holds
        no registered secret (in its escaped form), no ``=`` and no ``://`` with an ``@``."""
        if "=" in text or ("://" in text and "@" in text):
            return False
        return not any(secret in text for secret in self._escaped)

    def dumps(
        self, value: JsonValue, *, ensure_ascii: bool = True, separators: tuple[str, str] | None = None
    ) -> str:
        """``json.dumps(self.redact_json(value), ...)``, the same text, for a value whose keys are all
        strings; the value is walked only when its text may hold something to mask."""
        try:
            text = json.dumps(value, ensure_ascii=ensure_ascii, separators=separators)
        except (TypeError, ValueError):  # what redact_json turns into JSON (bytes), or a cycle
            text = None
        if text is not None and self.clean_json_text(text):
            return text
        return json.dumps(self.redact_json(value), ensure_ascii=ensure_ascii, separators=separators)

    def redact_plain_json(self, value: JsonValue) -> JsonValue:
        """``redact_json`` for a value made only of dicts with string keys, lists and scalars (what
        ``logging._to_json_value`` returns): ``value`` itself when nothing in it needs masking."""
        if isinstance(value, dict | list):
            try:
                clean = self.clean_json_text(json.dumps(value, ensure_ascii=False))
            except ValueError:  # a circular reference: walk it (and fail) as redact_json does
                clean = False
            if clean:
                return value
        return self.redact_json(value)


def _masked(match: re.Match[str]) -> str:
    return match.group("head") + MASK


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


def redact_plain_json(value: JsonValue) -> JsonValue:
    """``SecretRegistry.redact_plain_json`` of the process-wide registry."""
    return DEFAULT_REGISTRY.redact_plain_json(value)


def dumps_redacted(
    value: JsonValue, *, ensure_ascii: bool = True, separators: tuple[str, str] | None = None
) -> str:
    """``SecretRegistry.dumps`` of the process-wide registry: ``json.dumps`` of ``redact_json(value)``."""
    return DEFAULT_REGISTRY.dumps(value, ensure_ascii=ensure_ascii, separators=separators)


__all__ = [
    "DEFAULT_REGISTRY",
    "MASK",
    "OTLP_HEADER_SECRET_MIN_LENGTH",
    "SecretRegistry",
    "dumps_redacted",
    "redact",
    "redact_json",
    "redact_plain_json",
    "register_otlp_headers",
    "register_secret",
    "register_settings_secrets",
]
