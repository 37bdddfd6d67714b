"""Fixtures of the security tests: a TLS-only PostgreSQL, least-privilege roles, Kafka's secured listeners.

- ``tls_postgres`` (session): a dedicated PostgreSQL instance made by the tests, with a test
  CA and a server certificate from it; TLS only (see ``tls_postgres.py``).
- ``least_privilege`` (session): in that instance, a database set up with
  ``deploy/postgres/least_privilege_roles.sql`` (roles ``onex_migrator`` and ``onex_app``,
  schema ``onex``), each role with a fresh random password, the schema migrated by the
  migrator.
- ``secured_kafka`` (session): the SASL_PLAINTEXT, SSL and SASL_SSL listeners that
  ``scripts/services`` adds to the test broker (``ONEX_SERVICES_KAFKA_*`` from
  ``scripts/services env``), checked to be reachable.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from secure_setup import LeastPrivilegeDb, SecuredKafka, clean_environment
from tls_postgres import TlsPostgres

_HERE = Path(__file__).resolve().parent
# service_harness lives with the runtime integration tests; make it importable from here too.
sys.path.insert(0, str(_HERE.parent / "runtime"))

from service_harness import ONEX_INFRA, free_port  # noqa: E402

REPO_ROOT = _HERE.parents[2]
ROLES_SQL = REPO_ROOT / "deploy" / "postgres" / "least_privilege_roles.sql"
LEAST_PRIVILEGE_DATABASE = "onex_sec"
SCHEMA = "onex"


def _require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"environment variable {name} is not set: start the servers and export their settings "
            '(scripts/services start && eval "$(scripts/services env)"; scripts/test does both)',
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session")
def tls_postgres() -> Iterator[TlsPostgres]:
    instance = TlsPostgres.create(port=free_port())
    try:
        instance.start()
        yield instance
    finally:
        instance.destroy()


async def _apply_roles(server: TlsPostgres, migrator_password: str, app_password: str) -> None:
    admin = await server.admin_connect()
    try:
        await admin.execute(f'CREATE DATABASE "{LEAST_PRIVILEGE_DATABASE}"')
    finally:
        await admin.close()
    admin = await server.admin_connect(LEAST_PRIVILEGE_DATABASE)
    try:
        await admin.execute(ROLES_SQL.read_text())
        # ALTER ROLE takes no bind parameters; these are generated hex strings.
        await admin.execute(f"ALTER ROLE onex_migrator PASSWORD '{migrator_password}'")
        await admin.execute(f"ALTER ROLE onex_app PASSWORD '{app_password}'")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def least_privilege(tls_postgres: TlsPostgres, tmp_path_factory: pytest.TempPathFactory) -> LeastPrivilegeDb:
    db = LeastPrivilegeDb(
        server=tls_postgres,
        database=LEAST_PRIVILEGE_DATABASE,
        schema=SCHEMA,
        migrator_password=f"pg-migrator-{secrets.token_hex(12)}",
        app_password=f"pg-app-{secrets.token_hex(12)}",
        secrets_dir=tmp_path_factory.mktemp("pg-secrets"),
    )
    asyncio.run(_apply_roles(tls_postgres, db.migrator_password, db.app_password))
    for role, password in (("onex_migrator", db.migrator_password), ("onex_app", db.app_password)):
        path = db.password_file(role)
        path.write_text(password + "\n")  # a trailing newline, as `echo` leaves it: must be ignored
        path.chmod(0o600)
    env = {**clean_environment(), **db.env("onex_migrator")}
    done = subprocess.run(
        [ONEX_INFRA, "db", "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"db migrate as onex_migrator failed:\n{done.stdout}{done.stderr}"
    return db


def _reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def secured_kafka() -> SecuredKafka:
    kafka = SecuredKafka(
        plaintext=_require_env("KAFKA_BOOTSTRAP_SERVERS"),
        sasl_plaintext=_require_env("ONEX_SERVICES_KAFKA_SASL_BOOTSTRAP"),
        ssl=_require_env("ONEX_SERVICES_KAFKA_SSL_BOOTSTRAP"),
        sasl_ssl=_require_env("ONEX_SERVICES_KAFKA_SASL_SSL_BOOTSTRAP"),
        ca_file=_require_env("ONEX_SERVICES_KAFKA_CA_FILE"),
        username=_require_env("ONEX_SERVICES_KAFKA_SASL_USERNAME"),
        password=_require_env("ONEX_SERVICES_KAFKA_SASL_PASSWORD"),
    )
    missing = [a for a in (kafka.sasl_plaintext, kafka.ssl, kafka.sasl_ssl) if not _reachable(a)]
    if missing:
        pytest.fail(
            f"the test broker does not serve its secured listeners {missing}: it was started before "
            "scripts/services added them; restart it (scripts/services stop-kafka && scripts/services start)",
            pytrace=False,
        )
    return kafka


@pytest.fixture(scope="session")
def clean_env() -> dict[str, str]:
    return clean_environment()
