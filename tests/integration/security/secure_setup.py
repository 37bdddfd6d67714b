"""Data the security fixtures hand to the tests (kept out of conftest so tests can import it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tls_postgres import TlsPostgres


@dataclass(frozen=True)
class LeastPrivilegeDb:
    """The database of ``deploy/postgres/least_privilege_roles.sql`` in ``tls_postgres``."""

    server: TlsPostgres
    database: str
    schema: str
    migrator_password: str
    app_password: str
    secrets_dir: Path

    def password_file(self, role: str) -> Path:
        return self.secrets_dir / f"{role}.password"

    def env(self, role: str) -> dict[str, str]:
        """``POSTGRES_*`` for ``role`` over TLS (verify-full), the password through ``_FILE``."""
        return {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(self.server.port),
            "POSTGRES_DATABASE": self.database,
            "POSTGRES_USER": role,
            "POSTGRES_PASSWORD_FILE": str(self.password_file(role)),
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_SSL_MODE": "verify-full",
            "POSTGRES_SSL_CA_FILE": str(self.server.ca.cert),
        }


@dataclass(frozen=True)
class SecuredKafka:
    """The secured listeners of the test broker and its SASL test user."""

    plaintext: str
    sasl_plaintext: str
    ssl: str
    sasl_ssl: str
    ca_file: str
    username: str
    password: str


def clean_environment() -> dict[str, str]:
    """The test process's environment without any credential or security setting of the service."""
    dropped = ("POSTGRES_", "KAFKA_SASL_", "KAFKA_SSL_", "KAFKA_SECURITY_", "ONEX_ADMIN_TOKEN")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


__all__ = ["LeastPrivilegeDb", "SecuredKafka", "clean_environment"]
