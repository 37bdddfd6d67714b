"""The SSLRequest probe against loopback servers that answer as PostgreSQL would (or do not)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.postgres_tls_probe import SSL_REQUEST, offers_tls, tls_refusal
from omnibase_infra.models.model_postgres_connection_config import (
    ModelPostgresConnectionConfig,
    PostgresSslMode,
)

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def answering(reply: bytes, seen: list[bytes]) -> Answer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readexactly(len(SSL_REQUEST)))
        writer.write(reply)
        await writer.drain()
        writer.close()

    return handle


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@asynccontextmanager
async def server(handle: Answer) -> AsyncIterator[int]:
    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()
        await listening.wait_closed()


def config(port: int, ssl_mode: PostgresSslMode) -> ModelPostgresConnectionConfig:
    return ModelPostgresConnectionConfig(
        host="127.0.0.1",
        port=port,
        database="db",
        user="u",
        password=SecretStr("pg-secret-value"),
        ssl_mode=ssl_mode,
        ssl_ca_file="/etc/ssl/certs/ca-certificates.crt" if ssl_mode.startswith("verify") else None,
    )


@pytest.mark.parametrize(("reply", "offered"), [(b"S", True), (b"N", False), (b"E", None)])
async def test_the_probe_sends_an_ssl_request_and_reads_the_one_byte_answer(
    reply: bytes, offered: bool | None
) -> None:
    seen: list[bytes] = []
    async with server(answering(reply, seen)) as port:
        assert await offers_tls("127.0.0.1", port, 2.0) is offered
    assert seen == [b"\x00\x00\x00\x08\x04\xd2\x16\x2f"]


async def test_a_server_that_hangs_up_or_is_not_there_cannot_be_asked() -> None:
    async with server(hang_up) as port:
        assert await offers_tls("127.0.0.1", port, 2.0) is None
    assert await offers_tls("127.0.0.1", port, 2.0) is None  # closed: connection refused


@pytest.mark.parametrize("ssl_mode", ["require", "verify-ca", "verify-full"])
async def test_required_tls_against_a_server_without_it_is_a_configuration_error(
    ssl_mode: PostgresSslMode,
) -> None:
    async with server(answering(b"N", [])) as port:
        refusal = await tls_refusal(ConnectionError("rejected SSL upgrade"), config(port, ssl_mode))

    assert isinstance(refusal, ConfigurationError)
    assert refusal.variable == "POSTGRES_SSL_MODE"
    assert f"ssl_mode {ssl_mode} requires it" in str(refusal)
    assert "does not offer TLS" in str(refusal)
    assert "pg-secret-value" not in str(refusal)


@pytest.mark.parametrize(
    ("ssl_mode", "reply", "error"),
    [
        ("prefer", b"N", ConnectionError("rejected SSL upgrade")),  # TLS not required
        ("require", b"S", ConnectionError("reset")),  # TLS offered: something else failed
        ("require", b"N", OSError("no route to host")),  # not how asyncpg reports a refusal
    ],
)
async def test_anything_else_is_left_to_the_outage_path(
    ssl_mode: PostgresSslMode, reply: bytes, error: BaseException
) -> None:
    async with server(answering(reply, [])) as port:
        assert await tls_refusal(error, config(port, ssl_mode)) is None
