"""PostgresConnectionManager without a server: lifecycle guards, configuration, error hygiene, TLS.

Behaviour against a real server (queries, restarts, reconnects) is in
tests/integration/infrastructure.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import ConfigurationError, LifecycleError, OutageError
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.infrastructure.postgres_errors import as_outage, sanitize
from omnibase_infra.infrastructure.postgres_ssl import build_ssl
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

PASSWORD = "s3cr3t-pw"
CONFIG = ModelPostgresConnectionConfig(
    host="db.internal",
    port=5433,
    database="onex",
    user="svc",
    password=SecretStr(PASSWORD),
    schema_name="onex_app",
    min_connections=3,
    max_connections=7,
    max_inactive_connection_lifetime=120.0,
    max_queries=1000,
    command_timeout=12.0,
)


class RecordingFactory:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.kwargs: dict[str, Any] = {}

    async def __call__(self, **kwargs: Any) -> asyncpg.Pool[asyncpg.Record]:
        self.kwargs = kwargs
        raise self.error


async def test_use_before_start_is_a_lifecycle_error() -> None:
    manager = PostgresConnectionManager(CONFIG)
    with pytest.raises(LifecycleError, match="not started"):
        await manager.fetchval("SELECT 1")
    with pytest.raises(LifecycleError):
        async with manager.acquire_connection():
            pass
    health = await manager.health_check()
    assert health.status == "unhealthy"
    assert health.error == "connection manager not started"
    assert health.connection_pool.max_size == 7


async def test_stop_is_idempotent_and_final() -> None:
    manager = PostgresConnectionManager(CONFIG)
    await manager.stop()
    await manager.stop()
    with pytest.raises(LifecycleError, match="stopped"):
        await manager.start()
    with pytest.raises(LifecycleError, match="stopped"):
        await manager.execute("SELECT 1")


async def test_start_configures_the_pool_from_the_config() -> None:
    factory = RecordingFactory(ConnectionRefusedError(111, "Connect call failed"))
    manager = PostgresConnectionManager(CONFIG, pool_factory=factory)
    with pytest.raises(OutageError):
        await manager.start()
    kwargs = factory.kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["database"], kwargs["user"]) == (
        "db.internal",
        5433,
        "onex",
        "svc",
    )
    assert (kwargs["min_size"], kwargs["max_size"], kwargs["max_queries"]) == (3, 7, 1000)
    assert kwargs["max_inactive_connection_lifetime"] == 120.0
    assert kwargs["command_timeout"] == 12.0
    assert kwargs["ssl"] is False
    assert kwargs["server_settings"]["search_path"] == '"onex_app", public'
    assert not manager.started


async def test_an_unreachable_server_is_an_outage_without_secrets() -> None:
    error = OSError(f"could not connect to postgresql://svc:{PASSWORD}@db.internal:5433/onex")
    manager = PostgresConnectionManager(CONFIG, pool_factory=RecordingFactory(error))
    with pytest.raises(OutageError) as raised:
        await manager.start()
    assert raised.value.__cause__ is error
    assert PASSWORD not in str(raised.value)
    assert "svc@db.internal:5433/onex" in str(raised.value)
    assert manager.get_connection_stats().failed_connections == 1


@pytest.mark.parametrize(
    ("error", "variable"),
    [
        (
            asyncpg.exceptions.InvalidPasswordError("password authentication failed"),
            "POSTGRES_USER/POSTGRES_PASSWORD",
        ),
        (
            asyncpg.exceptions.InvalidAuthorizationSpecificationError("no such role"),
            "POSTGRES_USER/POSTGRES_PASSWORD",
        ),
        (asyncpg.exceptions.InvalidCatalogNameError("database does not exist"), "POSTGRES_DATABASE"),
    ],
)
async def test_bad_credentials_are_configuration_errors(error: BaseException, variable: str) -> None:
    manager = PostgresConnectionManager(CONFIG, pool_factory=RecordingFactory(error))
    with pytest.raises(ConfigurationError) as raised:
        await manager.start()
    assert raised.value.variable == variable


async def test_other_start_errors_pass_through() -> None:
    manager = PostgresConnectionManager(CONFIG, pool_factory=RecordingFactory(ValueError("bug")))
    with pytest.raises(ValueError, match="bug"):
        await manager.start()


def test_sanitize_masks_passwords_and_dsns() -> None:
    text = sanitize(RuntimeError(f"postgres://svc:{PASSWORD}@h/db password={PASSWORD} user=x"), CONFIG)
    assert PASSWORD not in text
    assert "postgres://svc:***@h/db" in text
    other = sanitize(RuntimeError("dsn postgresql://a:b@h/db and password='x y'"), CONFIG)
    assert "a:***@" in other and "password=***" in other
    assert len(sanitize(RuntimeError("x" * 1000), CONFIG)) < 400


def test_as_outage_translates_outages_only() -> None:
    outage = as_outage(asyncpg.exceptions.AdminShutdownError("terminating connection"), CONFIG)
    assert isinstance(outage, OutageError)
    assert "57P01" in str(outage)
    assert as_outage(asyncpg.exceptions.UniqueViolationError("dup"), CONFIG) is None
    assert as_outage(asyncpg.exceptions.InterfaceError("misuse"), CONFIG) is None
    assert as_outage(OutageError("already"), CONFIG) is None


class _Closed:
    def is_closed(self) -> bool:
        return True


class _Open:
    def is_closed(self) -> bool:
        return False


def test_a_client_error_on_a_closed_connection_is_an_outage() -> None:
    # asyncpg reports a session the server ended while idle as a client-side error
    busy = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 11; another operation (2) is in progress"
    )
    closed = asyncpg.exceptions.InterfaceError("connection is closed")
    assert isinstance(as_outage(busy, CONFIG, _Closed()), OutageError)  # type: ignore[arg-type]
    assert isinstance(as_outage(closed, CONFIG, _Closed()), OutageError)  # type: ignore[arg-type]
    assert as_outage(closed, CONFIG, _Open()) is None  # type: ignore[arg-type]
    assert as_outage(closed, CONFIG, None) is None


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    root = tmp_path_factory.mktemp("tls")
    files = {"cert": str(root / "client.crt"), "key": str(root / "client.key")}
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            files["key"],
            "-out",
            files["cert"],
        ],
        check=True,
        capture_output=True,
    )
    files["ca"] = files["cert"]
    return files


def _tls(mode: str, **files: str) -> ModelPostgresConnectionConfig:
    return CONFIG.model_copy(update={"ssl_mode": mode, **files})


def test_ssl_disable_and_string_modes() -> None:
    assert build_ssl(_tls("disable")) is False
    assert build_ssl(_tls("prefer")) == "prefer"
    assert build_ssl(_tls("allow")) == "allow"


def test_ssl_require_encrypts_without_verification() -> None:
    context = build_ssl(_tls("require"))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname


def test_ssl_require_with_a_ca_verifies_the_chain(tls_files: dict[str, str]) -> None:
    context = build_ssl(_tls("require", ssl_ca_file=tls_files["ca"]))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert not context.check_hostname


def test_ssl_verify_ca_and_verify_full(tls_files: dict[str, str]) -> None:
    verify_ca = build_ssl(_tls("verify-ca", ssl_ca_file=tls_files["ca"]))
    verify_full = build_ssl(_tls("verify-full", ssl_ca_file=tls_files["ca"]))
    assert isinstance(verify_ca, ssl.SSLContext) and isinstance(verify_full, ssl.SSLContext)
    assert verify_ca.verify_mode == verify_full.verify_mode == ssl.CERT_REQUIRED
    assert not verify_ca.check_hostname
    assert verify_full.check_hostname
    assert verify_full.get_ca_certs()


def test_ssl_client_certificate_is_loaded(tls_files: dict[str, str]) -> None:
    context = build_ssl(
        _tls(
            "verify-full",
            ssl_ca_file=tls_files["ca"],
            ssl_cert_file=tls_files["cert"],
            ssl_key_file=tls_files["key"],
        )
    )
    assert isinstance(context, ssl.SSLContext)


def test_ssl_unreadable_files_name_the_variable(tmp_path: Path, tls_files: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_ssl(_tls("verify-ca", ssl_ca_file=str(tmp_path / "missing.crt")))
    assert raised.value.variable == "POSTGRES_SSL_CA_FILE"
    with pytest.raises(ConfigurationError) as raised:
        build_ssl(
            _tls("require", ssl_cert_file=tls_files["cert"], ssl_key_file=str(tmp_path / "missing.key"))
        )
    assert raised.value.variable == "POSTGRES_SSL_CERT_FILE"


class FakePool:
    """What ``renew_credentials`` uses of an asyncpg pool: connect arguments, expiry, idle holders."""

    def __init__(self, idle: int) -> None:
        self.idle = idle
        self.connect_args: dict[str, Any] = {}
        self.events: list[str] = []

    def set_connect_args(self, **kwargs: Any) -> None:
        self.connect_args = kwargs
        self.events.append("set_connect_args")

    async def expire_connections(self) -> None:
        self.events.append("expire")

    def get_idle_size(self) -> int:
        return self.idle

    async def acquire(self, **options: float | None) -> object:
        self.events.append("acquire")
        return object()

    async def release(self, connection: object) -> None:
        self.events.append("release")


class FakeProbe:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.kwargs: dict[str, Any] = {}
        self.closed = False

    async def __call__(self, **kwargs: Any) -> FakeProbe:
        self.kwargs = kwargs
        if self.error is not None:
            raise self.error
        return self

    async def close(self) -> None:
        self.closed = True


async def started_with(pool: FakePool, probe: FakeProbe) -> PostgresConnectionManager:
    async def factory(**kwargs: Any) -> Any:
        return pool

    manager = PostgresConnectionManager(CONFIG, pool_factory=factory, connect=probe)  # type: ignore[arg-type]
    await manager.start()
    return manager


async def test_renewal_probes_switches_the_user_and_reopens_idle_connections() -> None:
    pool, probe = FakePool(idle=3), FakeProbe()
    manager = await started_with(pool, probe)
    assert await manager.renew_credentials("svc_v2") == 3
    assert probe.kwargs["user"] == "svc_v2" and probe.closed
    assert pool.connect_args["user"] == "svc_v2"
    assert pool.connect_args["server_settings"]["search_path"] == '"onex_app", public'
    assert "min_size" not in pool.connect_args  # connect arguments only, not the pool's sizes
    assert pool.events == ["set_connect_args", "expire", *["acquire"] * 3, *["release"] * 3]
    assert manager.config.user == "svc_v2"


async def test_renewal_without_a_user_keeps_the_configured_one() -> None:
    pool, probe = FakePool(idle=0), FakeProbe()
    manager = await started_with(pool, probe)
    assert await manager.renew_credentials() == 0
    assert pool.connect_args["user"] == "svc" and pool.events == ["set_connect_args", "expire"]


async def test_refused_credentials_leave_the_pool_untouched_and_name_the_variables() -> None:
    refusal = asyncpg.InvalidPasswordError(f'password authentication failed for user "svc_v2" ({PASSWORD})')
    pool, probe = FakePool(idle=2), FakeProbe(refusal)
    manager = await started_with(pool, probe)
    with pytest.raises(ConfigurationError) as caught:
        await manager.renew_credentials("svc_v2")
    assert "POSTGRES_USER" in str(caught.value) and PASSWORD not in str(caught.value)
    assert pool.events == [] and manager.config.user == "svc"


async def test_renewal_before_start_is_a_lifecycle_error() -> None:
    with pytest.raises(LifecycleError, match="not started"):
        await PostgresConnectionManager(CONFIG).renew_credentials("x")
