"""Turn ``ModelPostgresConnectionConfig``'s ``ssl_mode`` and files into what asyncpg's ``ssl=`` takes.

The modes mean what they mean to libpq:

=============  ==========================================================================
disable        no TLS (``False``)
allow/prefer   asyncpg's own string modes (TLS if the server offers it, no verification);
               with a CA or client certificate configured they behave as ``require``
require        TLS, no certificate verification; if a CA file is given, the server
               certificate is verified against it (libpq does the same)
verify-ca      TLS, the server certificate must chain to ``ssl_ca_file``
verify-full    as verify-ca, and the certificate must name the host we connect to
=============  ==========================================================================

A client certificate and key (``ssl_cert_file``/``ssl_key_file``) are loaded
for every TLS mode. An unreadable or invalid file raises ``ConfigurationError``
naming the ``POSTGRES_SSL_*`` variable; the key's content never appears.
"""

from __future__ import annotations

import ssl
from typing import Literal

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

AsyncpgSsl = ssl.SSLContext | Literal["allow", "prefer"] | bool


def build_ssl(config: ModelPostgresConnectionConfig) -> AsyncpgSsl:
    """The ``ssl`` argument for asyncpg for ``config.ssl_mode`` (see the module docstring)."""
    mode = config.ssl_mode
    if mode == "disable":
        return False
    if mode in ("allow", "prefer") and config.ssl_ca_file is None and config.ssl_cert_file is None:
        return mode
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    verify = mode in ("verify-ca", "verify-full") or config.ssl_ca_file is not None
    if verify:
        if config.ssl_ca_file is None:  # the config model already refuses this
            raise ConfigurationError("POSTGRES_SSL_CA_FILE", f"ssl_mode {mode} needs a CA file")
        try:
            context.load_verify_locations(cafile=config.ssl_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError("POSTGRES_SSL_CA_FILE", f"cannot load CA file: {_reason(exc)}") from None
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = mode == "verify-full"
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.ssl_cert_file is not None and config.ssl_key_file is not None:
        try:
            context.load_cert_chain(certfile=config.ssl_cert_file, keyfile=config.ssl_key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                "POSTGRES_SSL_CERT_FILE", f"cannot load client certificate/key: {_reason(exc)}"
            ) from None
    return context


def _reason(exc: OSError | ssl.SSLError) -> str:
    return exc.strerror or type(exc).__name__


__all__ = ["AsyncpgSsl", "build_ssl"]
