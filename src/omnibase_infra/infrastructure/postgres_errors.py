"""Translate asyncpg failures into the error tree, with messages that carry no secrets.

- An outage (see ``error_classification``), or a client-side asyncpg error
  (``InterfaceError``, ``InternalClientError``) after which the connection is
  closed, becomes ``OutageError`` raised ``from`` the original. The latter is
  how asyncpg reports a session the server ended while it was idle (e.g.
  ``pg_terminate_backend``: "connection is closed", "cannot switch to state").
- Authentication failures (SQLSTATE class 28, with the server's reason), an
  unknown database (3D000) and a server certificate that fails TLS verification
  (wrong CA: ``POSTGRES_SSL_CA_FILE``; certificate for another host:
  ``POSTGRES_HOST``) at connect time become ``ConfigurationError`` naming the
  variable to fix: retrying cannot help.
- Everything else is left to the caller unchanged (a data or constraint error
  keeps its SQLSTATE, so ``classify_error`` still sees it as poison).

``sanitize`` is the only way an exception's text reaches a log, an error or a
health report: the password and any ``scheme://user:password@`` are masked.
"""

from __future__ import annotations

import re
import ssl

import asyncpg

from omnibase_infra.errors import ConfigurationError, InfraError, OutageError
from omnibase_infra.infrastructure.error_classification import classify_error, qualified_name, sqlstate_of
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s]*@")
_PASSWORD_ASSIGNMENT = re.compile(r"(password\s*=\s*)('[^']*'|\"[^\"]*\"|\S+)", re.IGNORECASE)
_MAX_MESSAGE = 300
# OpenSSL verify codes of a certificate that does not name the host we connected to.
_X509_HOSTNAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH


def sanitize(exc: BaseException, config: ModelPostgresConnectionConfig) -> str:
    """``ExceptionClass: message`` with credentials masked and the length bounded."""
    text = str(exc)
    if config.password is not None:
        secret = config.password.get_secret_value()
        if secret:
            text = text.replace(secret, "***")
    text = _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)
    text = _PASSWORD_ASSIGNMENT.sub(r"\1***", text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    name = qualified_name(exc)
    return f"{name}: {text}" if text else name


def as_outage(
    exc: BaseException,
    config: ModelPostgresConnectionConfig,
    connection: asyncpg.connection.Connection | asyncpg.pool.PoolConnectionProxy | None = None,
) -> OutageError | None:
    """The ``OutageError`` to raise in place of ``exc``, or ``None`` if ``exc`` is not an outage."""
    if isinstance(exc, OutageError):
        return None  # already in the tree; re-raise as is
    verdict = classify_error(exc)
    client_side = isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError)
    closed = client_side and connection is not None and _is_closed(connection)
    if not (verdict.counts_against_breaker or closed):
        return None
    state = f" (SQLSTATE {verdict.sqlstate})" if verdict.sqlstate else ""
    return OutageError(f"PostgreSQL {config.describe()} unavailable{state}: {sanitize(exc, config)}")


def as_connect_error(exc: BaseException, config: ModelPostgresConnectionConfig) -> InfraError | None:
    """The error to raise when ``start()`` failed with ``exc`` (``None``: re-raise ``exc``)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        wrong_host = exc.verify_code in _X509_HOSTNAME_MISMATCH
        return ConfigurationError(
            "POSTGRES_HOST" if wrong_host else "POSTGRES_SSL_CA_FILE",
            f"the TLS certificate of {config.describe()} is not trusted (ssl_mode {config.ssl_mode}): "
            f"{exc.verify_message}",
        )
    sqlstate = sqlstate_of(exc)
    if sqlstate is not None and sqlstate.startswith("28"):
        return ConfigurationError(
            "POSTGRES_USER/POSTGRES_PASSWORD",
            f"authentication failed for {config.describe()}: {sanitize(exc, config)}",
        )
    if sqlstate == "3D000":
        return ConfigurationError("POSTGRES_DATABASE", f"database {config.database!r} does not exist")
    return as_outage(exc, config)


def _is_closed(connection: asyncpg.connection.Connection | asyncpg.pool.PoolConnectionProxy) -> bool:
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        return True  # a proxy released back to the pool: the connection is gone for us


__all__ = ["as_connect_error", "as_outage", "sanitize"]
