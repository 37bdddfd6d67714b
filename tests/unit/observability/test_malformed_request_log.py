"""A request aiohttp cannot parse is one INFO line, not an ERROR with a traceback."""

from __future__ import annotations

import logging
import sys

from aiohttp import http_exceptions

from omnibase_infra.observability.http_server import MalformedRequestFilter


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s", ("1.2.3.4",), exc_info
    )


def test_a_parser_error_becomes_one_bounded_info_line() -> None:
    record = _record(
        http_exceptions.InvalidURLError("Invalid char in url path:\n\n  b'GET /\\xff'\n" + "x" * 500)
    )
    assert MalformedRequestFilter().filter(record)
    assert record.levelno == logging.INFO and record.levelname == "INFO"
    assert record.exc_info is None and record.exc_text is None
    message = record.getMessage()
    assert message.startswith("Error handling request from 1.2.3.4: malformed request: InvalidURLError: ")
    assert "\n" not in message
    assert len(message) < 300


def test_a_real_server_error_keeps_its_level_and_traceback() -> None:
    record = _record(RuntimeError("bug"))
    assert MalformedRequestFilter().filter(record)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
