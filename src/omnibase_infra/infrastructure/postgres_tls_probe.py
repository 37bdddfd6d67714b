"""Does a PostgreSQL server offer TLS at all? Asked the way libpq asks, before any login.

asyncpg reports a server that refuses the TLS upgrade with a plain ``ConnectionError``,
the same type as a network failure. Instead of reading its message text, a client that
requires TLS asks the server directly: an ``SSLRequest`` (protocol §55.2.10) is answered
with one byte, ``S`` (TLS offered) or ``N`` (not offered). The probe sends nothing else
and closes the socket right after the answer.
"""

from __future__ import annotations

import asyncio
import struct

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
TLS_REQUIRED_MODES = frozenset({"require", "verify-ca", "verify-full"})
MAX_PROBE_SECONDS = 5.0


async def offers_tls(host: str, port: int, within_seconds: float) -> bool | None:
    """True (``S``) or False (``N``); None when the server could not be asked or answered oddly."""
    try:
        async with asyncio.timeout(within_seconds):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(SSL_REQUEST)
                await writer.drain()
                answer = await reader.readexactly(1)
            finally:
                writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    return {b"S": True, b"N": False}.get(answer)


async def tls_refusal(exc: BaseException, config: ModelPostgresConnectionConfig) -> ConfigurationError | None:
    """The error for a failed connect when TLS is required and the server does not offer it."""
    if config.ssl_mode not in TLS_REQUIRED_MODES or not isinstance(exc, ConnectionError):
        return None
    if config.host.startswith("/"):
        return None  # a Unix socket: TLS never applies
    offered = await offers_tls(config.host, config.port, min(config.connect_timeout, MAX_PROBE_SECONDS))
    if offered is not False:
        return None
    return ConfigurationError(
        "POSTGRES_SSL_MODE",
        f"{config.describe()} does not offer TLS, and ssl_mode {config.ssl_mode} requires it "
        "(switch TLS on in the server, or choose prefer or disable)",
    )


__all__ = ["SSL_REQUEST", "TLS_REQUIRED_MODES", "offers_tls", "tls_refusal"]
