"""PostgreSQL over TLS against a real server whose certificate comes from a CA made by the test.

The server (``tls_postgres``) rejects every connection without TLS, so a successful query
here was encrypted; ``pg_stat_ssl`` confirms it from the server's side.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from tls_material import TestCa
from tls_postgres import ALTERNATE_HOST, CERT_ROLE, TlsPostgres

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.models.model_postgres_connection_config import (
    ModelPostgresConnectionConfig,
    PostgresSslMode,
)

ROLE = "onex_tls_client"
PASSWORD = f"pg-tls-{secrets.token_hex(10)}"


@pytest.fixture(scope="module")
def tls_role(tls_postgres: TlsPostgres) -> str:
    async def create() -> None:
        admin = await tls_postgres.admin_connect()
        try:
            await admin.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
            await admin.execute(f"CREATE ROLE {CERT_ROLE} LOGIN")
        finally:
            await admin.close()

    asyncio.run(create())
    return ROLE


@pytest.fixture(scope="module")
def wrong_ca(tls_postgres: TlsPostgres, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that did not sign the server certificate."""
    return TestCa.create(tmp_path_factory.mktemp("wrong-ca"), "impostor").cert


def config(
    server: TlsPostgres, ssl_mode: PostgresSslMode, *, host: str = "127.0.0.1", **overrides: object
) -> ModelPostgresConnectionConfig:
    fields: dict[str, object] = {
        "host": host,
        "port": server.port,
        "database": "postgres",
        "user": ROLE,
        "password": SecretStr(PASSWORD),
        "min_connections": 1,
        "max_connections": 2,
        "connect_timeout": 10.0,
        "ssl_mode": ssl_mode,
        "ssl_ca_file": str(server.ca.cert),
    }
    fields.update(overrides)
    return ModelPostgresConnectionConfig.model_validate(fields)


@pytest.fixture
async def managers() -> AsyncIterator[list[PostgresConnectionManager]]:
    made: list[PostgresConnectionManager] = []
    yield made
    await asyncio.gather(*(m.stop() for m in made))


async def tls_of_session(manager: PostgresConnectionManager) -> tuple[bool, str, str]:
    row = await manager.fetchrow(
        "SELECT s.ssl, s.version, current_user AS who FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()"
    )
    assert row is not None
    return bool(row["ssl"]), str(row["version"]), str(row["who"])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_verify_full_connects_when_the_certificate_names_the_host(
    tls_postgres: TlsPostgres, tls_role: str, managers: list[PostgresConnectionManager], host: str
) -> None:
    manager = PostgresConnectionManager(config(tls_postgres, "verify-full", host=host))
    managers.append(manager)
    await manager.start()
    ssl_on, version, who = await tls_of_session(manager)
    assert ssl_on
    assert version in ("TLSv1.2", "TLSv1.3")
    assert who == tls_role
    health = await manager.health_check()
    assert health.status == "healthy"


async def test_verify_ca_checks_the_chain_but_not_the_host_name(
    tls_postgres: TlsPostgres, tls_role: str, managers: list[PostgresConnectionManager]
) -> None:
    manager = PostgresConnectionManager(config(tls_postgres, "verify-ca", host=ALTERNATE_HOST))
    managers.append(manager)
    await manager.start()
    assert (await tls_of_session(manager))[0]


async def test_verify_full_refuses_a_certificate_for_another_host(
    tls_postgres: TlsPostgres, tls_role: str
) -> None:
    manager = PostgresConnectionManager(config(tls_postgres, "verify-full", host=ALTERNATE_HOST))
    with pytest.raises(ConfigurationError) as refused:
        await manager.start()
    error = refused.value
    assert error.variable == "POSTGRES_HOST"
    assert "not trusted" in error.reason
    assert f"not valid for '{ALTERNATE_HOST}'" in error.reason
    assert PASSWORD not in str(error)
    assert not manager.started


async def test_verify_full_refuses_a_server_signed_by_another_ca(
    tls_postgres: TlsPostgres, tls_role: str, wrong_ca: Path
) -> None:
    manager = PostgresConnectionManager(config(tls_postgres, "verify-full", ssl_ca_file=str(wrong_ca)))
    with pytest.raises(ConfigurationError) as refused:
        await manager.start()
    error = refused.value
    assert error.variable == "POSTGRES_SSL_CA_FILE"
    assert "not trusted (ssl_mode verify-full)" in error.reason
    assert "certificate" in error.reason
    assert PASSWORD not in str(error)


async def test_a_missing_ca_file_is_named(tls_postgres: TlsPostgres, tmp_path: Path) -> None:
    manager = PostgresConnectionManager(
        config(tls_postgres, "verify-full", ssl_ca_file=str(tmp_path / "absent-ca.crt"))
    )
    with pytest.raises(ConfigurationError) as refused:
        await manager.start()
    assert refused.value.variable == "POSTGRES_SSL_CA_FILE"
    assert "No such file" in refused.value.reason


async def test_the_server_refuses_a_connection_without_tls(tls_postgres: TlsPostgres, tls_role: str) -> None:
    """What makes the other tests meaningful: nothing reaches this server in clear text."""
    manager = PostgresConnectionManager(config(tls_postgres, "disable", ssl_ca_file=None))
    with pytest.raises(ConfigurationError) as refused:
        await manager.start()
    assert refused.value.variable == "POSTGRES_USER/POSTGRES_PASSWORD"
    assert "no encryption" in refused.value.reason
    assert PASSWORD not in str(refused.value)


async def test_a_wrong_password_over_tls_is_a_configuration_error_without_the_password(
    tls_postgres: TlsPostgres, tls_role: str
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    manager = PostgresConnectionManager(config(tls_postgres, "verify-full", password=SecretStr(wrong)))
    with pytest.raises(ConfigurationError) as refused:
        await manager.start()
    assert "password authentication failed" in refused.value.reason
    assert wrong not in str(refused.value)
    assert PASSWORD not in str(refused.value)


async def test_a_client_certificate_logs_in_without_a_password(
    tls_postgres: TlsPostgres, tls_role: str, managers: list[PostgresConnectionManager]
) -> None:
    manager = PostgresConnectionManager(
        config(
            tls_postgres,
            "verify-full",
            user=CERT_ROLE,
            password=None,
            ssl_cert_file=str(tls_postgres.client.cert),
            ssl_key_file=str(tls_postgres.client.key),
        )
    )
    managers.append(manager)
    await manager.start()
    ssl_on, _, who = await tls_of_session(manager)
    assert ssl_on
    assert who == CERT_ROLE

    without = PostgresConnectionManager(config(tls_postgres, "verify-full", user=CERT_ROLE, password=None))
    with pytest.raises(ConfigurationError) as refused:
        await without.start()
    assert "requires a valid client certificate" in refused.value.reason
