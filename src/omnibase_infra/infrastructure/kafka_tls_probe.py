"""Does a Kafka listener speak TLS? Asked with a bare TLS handshake, after a client failed.

A client whose ``KAFKA_SECURITY_PROTOCOL`` disagrees with the listener (``PLAINTEXT``
against a TLS listener, or ``SSL`` against a plain one) sees only a dropped connection,
the same as an outage. After such a failure the service shakes hands with the listener
itself (no certificate check: only *whether* it speaks TLS matters here, and nothing is
sent after the handshake): a completed handshake means TLS, a TLS-level failure means a
plain listener, a refused or silent socket means it could not tell.
"""

from __future__ import annotations

import asyncio
import ssl

from omnibase_infra.errors import ConfigurationError

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
MAX_PROBE_SECONDS = 5.0


def _handshake_only_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the probe only asks whether the listener speaks TLS
    return context


async def speaks_tls(host: str, port: int, within_seconds: float) -> bool | None:
    """True: a TLS handshake completed; False: the listener answered, not in TLS; None: no answer."""
    try:
        async with asyncio.timeout(within_seconds):
            _, writer = await asyncio.open_connection(host, port, ssl=_handshake_only_context())
            writer.close()
    except ssl.SSLError:
        return False
    except ConnectionResetError:
        return False  # a plain listener reads the ClientHello as an oversized request and drops it
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    return True


async def protocol_mismatch(security_protocol: str, server: str) -> ConfigurationError | None:
    """The error for a listener at ``server`` (``host:port``) that speaks the other protocol."""
    host, _, port = server.rpartition(":")
    if not port.isdigit():
        return None
    tls = await speaks_tls(host.strip("[]"), int(port), MAX_PROBE_SECONDS)
    wanted = security_protocol in TLS_PROTOCOLS
    if tls is None or tls == wanted:
        return None
    if tls:
        reason = (
            f"the listener at {server} speaks TLS but KAFKA_SECURITY_PROTOCOL is {security_protocol} "
            "(use SSL or SASL_SSL, or point to a plain listener)"
        )
    else:
        reason = (
            f"the listener at {server} does not speak TLS but KAFKA_SECURITY_PROTOCOL is "
            f"{security_protocol} (use PLAINTEXT or SASL_PLAINTEXT, or point to a TLS listener)"
        )
    return ConfigurationError("KAFKA_SECURITY_PROTOCOL", reason)


__all__ = ["protocol_mismatch", "speaks_tls"]
