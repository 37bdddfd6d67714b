"""Structured JSON logging: one JSON object per line, correlated with traces and requests.

Every line carries ``timestamp`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
``message``, ``trace_id`` and ``span_id`` (hex, from the current OpenTelemetry span, or
``null``), ``correlation_id`` (from ``correlation_scope``, or ``null``), then every
``extra=`` field of the call, and ``exception`` when one is attached.

A line is one line for every reader: the Unicode line separators that JSON leaves raw
(U+0085, U+2028, U+2029) are escaped too.

Secrets never reach the stream: ``RedactionFilter`` masks registered secret values and
DSN passwords in the message, in every extra field and in exception text (see
``observability.redaction``). The formatter redacts again as a last line of defence, so
a record that bypassed the filter is still masked.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO
from uuid import UUID

from opentelemetry import trace

from omnibase_infra.json_types import JsonValue
from omnibase_infra.observability.redaction import dumps_redacted, redact, redact_plain_json

_correlation_id: ContextVar[str | None] = ContextVar("omnibase_correlation_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}

# Characters that ``json.dumps(ensure_ascii=False)`` writes raw but that many readers (Python's
# ``str.splitlines``, JavaScript) treat as a line break: escaped, so a client-supplied value
# (a URL path, an operation name) can never split one log line into two or forge a line.
_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})

_RESERVED_KEYS = frozenset(
    {"timestamp", "level", "logger", "message", "trace_id", "span_id", "correlation_id", "exception"}
)


def current_correlation_id() -> str | None:
    """The correlation id of the work the current task is doing, if any."""
    return _correlation_id.get()


@contextmanager
def correlation_scope(correlation_id: UUID | str | None) -> Iterator[None]:
    """Attach ``correlation_id`` to every log line written inside the block (this task only).

    Nested scopes restore the outer value on exit. Being a ``ContextVar``, the value follows
    the current asyncio task and is copied into tasks created inside the block.
    """
    token = _correlation_id.set(None if correlation_id is None else str(correlation_id))
    try:
        yield
    finally:
        _correlation_id.reset(token)


def current_trace_ids() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the current span as lowercase hex, or (None, None) without one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _to_json_value(value: object) -> JsonValue:
    """Turn an ``extra`` value into something ``json`` can write; unknown types become ``str``."""
    if type(value) in _SCALARS:  # the common case first, without the isinstance chain
        return value  # type: ignore[return-value]  # one of the JSON scalars
    if isinstance(value, str | int | float | bool):  # a subclass (a StrEnum member, say)
        return value
    if isinstance(value, dict) or isinstance(value, Mapping):  # noqa: SIM101 - dict first: fast
        scalars = _SCALARS
        return {
            (k if type(k) is str else str(k)): (v if type(v) in scalars else _to_json_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_to_json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES}


class RedactionFilter(logging.Filter):
    """Masks secrets in a record's message, its ``extra`` fields and its exception text.

    The record is rewritten in place (message formatted with its args first), and always
    let through: this filter never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in _extras(record).items():
            setattr(record, key, redact_plain_json(_to_json_value(value)))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonLogFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = current_trace_ids()
        line: dict[str, JsonValue] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": trace_id,
            "span_id": span_id,
            "correlation_id": current_correlation_id(),
        }
        for key, value in _extras(record).items():
            line[f"extra_{key}" if key in _RESERVED_KEYS else key] = _to_json_value(value)
        if record.exc_info and record.exc_info[1] is not None:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        text = dumps_redacted(line, ensure_ascii=False, separators=(",", ":"))
        if "\u0085" in text or "\u2028" in text or "\u2029" in text:
            text = text.translate(_LINE_BREAKS)
        return text


class _OnexHandler(logging.StreamHandler[IO[str]]):
    """Marks the handler ``configure_logging`` installed, so a second call replaces it."""


def configure_logging(level: str | int = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record of the process as redacted JSON lines to ``stream`` (stderr by default).

    Idempotent: calling it again replaces the handler it installed before (other handlers of
    the root logger are left alone). Returns the installed handler.
    Raises ``ValueError`` for an unknown level name.
    """
    if isinstance(level, str):
        resolved = logging.getLevelNamesMapping().get(level.strip().upper())
        if resolved is None:
            raise ValueError(f"unknown log level {level!r}")
        level = resolved
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _OnexHandler):
            root.removeHandler(existing)
            existing.close()
    handler = _OnexHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RedactionFilter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler


__all__ = [
    "JsonLogFormatter",
    "RedactionFilter",
    "configure_logging",
    "correlation_scope",
    "current_correlation_id",
    "current_trace_ids",
]
