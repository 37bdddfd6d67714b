"""The listener-protocol probe against loopback servers that do not speak TLS (or are not there).

The TLS side (a handshake that completes) is shown against the test broker's SSL listener in
tests/integration/security/test_startup_refusals.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from omnibase_infra.infrastructure.kafka_tls_probe import protocol_mismatch, speaks_tls

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def answers_in_plain_text(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(5)  # the start of a ClientHello, read as a plain request
    writer.write(b"\x00\x00\x00\x02\x00\x00")
    await writer.drain()
    writer.close()


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


@asynccontextmanager
async def server(handle: Handler) -> AsyncIterator[int]:
    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()


async def test_a_plain_listener_does_not_speak_tls() -> None:
    async with server(answers_in_plain_text) as port:
        assert await speaks_tls("127.0.0.1", port, 2.0) is False


async def test_no_answer_tells_nothing() -> None:
    async with server(never_answers) as port:
        assert await speaks_tls("127.0.0.1", port, 0.2) is None
    assert await speaks_tls("127.0.0.1", port, 2.0) is None  # closed: connection refused


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
async def test_a_tls_client_on_a_plain_listener_is_a_configuration_error(protocol: str) -> None:
    async with server(answers_in_plain_text) as port:
        error = await protocol_mismatch(protocol, f"127.0.0.1:{port}")

    assert error is not None
    assert error.variable == "KAFKA_SECURITY_PROTOCOL"
    assert f"does not speak TLS but KAFKA_SECURITY_PROTOCOL is {protocol}" in str(error)


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
async def test_a_plain_client_on_a_plain_listener_is_no_mismatch(protocol: str) -> None:
    async with server(answers_in_plain_text) as port:
        assert await protocol_mismatch(protocol, f"127.0.0.1:{port}") is None


async def test_an_address_without_a_port_is_not_probed() -> None:
    assert await protocol_mismatch("SSL", "broker.example") is None
