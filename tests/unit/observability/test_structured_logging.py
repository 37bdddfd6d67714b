"""JSON log lines carry trace_id, span_id and correlation_id, and never a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider

from omnibase_infra.observability.logging import (
    configure_logging,
    correlation_scope,
    current_correlation_id,
)
from omnibase_infra.observability.redaction import register_secret


@pytest.fixture
def stream(restore_root_logger: logging.Logger) -> io.StringIO:
    buffer = io.StringIO()
    configure_logging("DEBUG", buffer)
    return buffer


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_has_the_standard_keys(stream: io.StringIO) -> None:
    logging.getLogger("omnibase_infra.test").info("hello %s", "world")
    (line,) = _lines(stream)
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
    assert line["logger"] == "omnibase_infra.test"
    assert str(line["timestamp"]).endswith("+00:00")
    assert line["trace_id"] is None and line["span_id"] is None and line["correlation_id"] is None


def test_trace_and_correlation_ids_come_from_the_context(
    stream: io.StringIO, provider: TracerProvider
) -> None:
    correlation = uuid.uuid4()
    with correlation_scope(correlation), provider.get_tracer("t").start_as_current_span("work") as span:
        logging.getLogger("x").warning("inside")
        context = span.get_span_context()
    (line,) = _lines(stream)
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
    assert line["correlation_id"] == str(correlation)


def test_correlation_scope_nests_and_follows_tasks() -> None:
    async def main() -> list[str | None]:
        seen: list[str | None] = []
        with correlation_scope("outer"):
            with correlation_scope("inner"):
                seen.append(current_correlation_id())
            seen.append(current_correlation_id())

            async def child() -> None:
                seen.append(current_correlation_id())

            await asyncio.create_task(child())
        seen.append(current_correlation_id())
        return seen

    assert asyncio.run(main()) == ["inner", "outer", "outer", None]


def test_extras_are_fields_and_reserved_names_are_prefixed(stream: io.StringIO) -> None:
    logging.getLogger("x").info(
        "batch written", extra={"rows": 500, "topic": "t", "level": "custom", "nested": {"a": (1, 2)}}
    )
    (line,) = _lines(stream)
    assert line["rows"] == 500 and line["topic"] == "t"
    assert line["level"] == "INFO" and line["extra_level"] == "custom"
    assert line["nested"] == {"a": [1, 2]}


def test_secrets_are_masked_in_message_args_extras_and_exceptions(stream: io.StringIO) -> None:
    register_secret("pg-Pa55word")
    log = logging.getLogger("x")
    log.info("password is %s", "pg-Pa55word", extra={"dsn": "postgresql://app:pg-Pa55word@db/x"})
    try:
        raise ConnectionError("auth failed for postgres://u:other-pw@h/d")
    except ConnectionError:
        log.exception("connect failed")
    output = stream.getvalue()
    assert "pg-Pa55word" not in output and "other-pw" not in output
    first, second = _lines(stream)
    assert first["message"] == "password is ***"
    assert first["dsn"] == "postgresql://app:***@db/x"
    assert "ConnectionError" in str(second["exception"])
    assert "postgres://u:***@h/d" in str(second["exception"])


def test_configure_logging_is_idempotent_and_checks_the_level(restore_root_logger: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", first)
    configure_logging("warning", second)
    logging.getLogger("x").warning("once")
    logging.getLogger("x").info("filtered")
    assert first.getvalue() == ""
    assert len(_lines(second)) == 1
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD")


def test_a_client_supplied_line_separator_cannot_split_or_forge_a_line(stream: io.StringIO) -> None:
    hostile = 'x\u2028{"level":"ERROR","message":"forged"}\x85y\u2029z'
    logging.getLogger("omnibase_infra.test").warning("breaker:%s", hostile)
    text = stream.getvalue()
    assert len(text.splitlines()) == 1
    (line,) = _lines(stream)
    assert line["message"] == f"breaker:{hostile}"
