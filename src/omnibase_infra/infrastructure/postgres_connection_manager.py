"""The PostgreSQL connection pool: lifecycle, query helpers with statistics, health.

Guarantees:

- ``start()`` opens an asyncpg pool of ``min_connections``..``max_connections``
  connections configured from ``ModelPostgresConnectionConfig`` (statement
  recycling, idle lifetime, command timeout, TLS per ``ssl_mode``). A second
  ``start()`` does nothing; ``stop()`` closes the pool (terminating it if the
  close does not finish within ``close_timeout``) and a second ``stop()`` does
  nothing. Using the manager before ``start()`` or after ``stop()`` raises
  ``LifecycleError``.
- Every outage (connection refused/reset, SQLSTATE 08/53/57P0x, timeouts, a
  closed connection) surfaces as ``OutageError`` raised ``from`` the asyncpg
  error, so a breaker classifies it without knowing asyncpg. Other errors
  (e.g. a constraint violation) are raised unchanged.
- After an outage every pooled connection is expired, so connections that died
  with the server are replaced on their next acquire; the process never needs
  a restart. ``reconnect_count`` counts outages after which a connection
  worked again.
- Rotated credentials: with a password source (``use_password_source``) each new
  connection asks for the current password; ``renew_credentials(user)`` switches the
  user, checks the new credentials with one probe connection and retires every
  connection opened with the old ones (see its docstring).
- No message, log line or health report carries the password or a DSN.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import asyncpg

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import LifecycleError
from omnibase_infra.infrastructure.postgres_backup_hooks import BackupHooks
from omnibase_infra.infrastructure.postgres_errors import as_connect_error, as_outage, sanitize
from omnibase_infra.infrastructure.postgres_ssl import build_ssl
from omnibase_infra.infrastructure.postgres_tls_probe import tls_refusal
from omnibase_infra.models.model_connection_stats import ConnectionStats
from omnibase_infra.models.model_health import (
    HealthStatus,
    ModelDatabaseInfo,
    ModelPoolSnapshot,
    ModelPostgresHealth,
    ModelQueryPerformance,
)
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

type Connection = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
"""What ``acquire_connection()`` yields: an asyncpg pooled connection."""
type PoolFactory = Callable[..., Awaitable[asyncpg.Pool[asyncpg.Record]]]
"""``asyncpg.create_pool``'s shape; injectable so tests can simulate an unreachable server."""
type ConnectFactory = Callable[..., Awaitable[asyncpg.Connection[asyncpg.Record]]]
"""``asyncpg.connect``'s shape (the credential renewal's probe); injectable like the pool factory."""

_HEALTH_QUERY = """
SELECT version() AS version,
       current_schema() AS current_schema,
       (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS active_connections
"""

_log = logging.getLogger(__name__)


async def _create_pool(**kwargs: Any) -> asyncpg.Pool[asyncpg.Record]:
    return await asyncpg.create_pool(**kwargs)


async def _connect(**kwargs: Any) -> asyncpg.Connection[asyncpg.Record]:
    return await asyncpg.connect(**kwargs)


class PostgresConnectionManager(BackupHooks):
    """An asyncpg pool with statistics and health (see the module docstring for guarantees)."""

    def __init__(
        self,
        config: ModelPostgresConnectionConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        pool_factory: PoolFactory = _create_pool,
        connect: ConnectFactory = _connect,
        health_timeout_seconds: float = 5.0,
        close_timeout_seconds: float = 10.0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._pool_factory = pool_factory
        self._connect = connect
        self._health_timeout = health_timeout_seconds
        self._close_timeout = close_timeout_seconds
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._stopped = False
        self._start_lock = asyncio.Lock()
        self._connections_opened = 0
        self._failed_connections = 0
        self._reconnects = 0
        self._queries = 0
        self._failed_queries = 0
        self._total_query_seconds = 0.0
        self._outage_pending = False
        self._generation = 0
        self._password_source: Callable[[], Awaitable[str]] | None = None

    @property
    def config(self) -> ModelPostgresConnectionConfig:
        return self._config

    def use_password_source(self, source: Callable[[], Awaitable[str]]) -> None:
        """Ask ``source`` for the password on every new connection (rotated credentials, e.g. Vault).

        Must be called before ``start()``; existing connections keep the password they used
        until ``renew_credentials()`` retires them.
        """
        if self._pool is not None:
            raise LifecycleError("use_password_source() must be called before start()")
        self._password_source = source

    @property
    def started(self) -> bool:
        return self._pool is not None

    async def start(self) -> None:
        """Open the pool. Raises ``OutageError`` if unreachable, ``ConfigurationError`` on bad credentials."""
        async with self._start_lock:
            if self._stopped:
                raise LifecycleError("PostgresConnectionManager was stopped; create a new one")
            if self._pool is not None:
                return
            cfg = self._config
            try:
                self._pool = await self._pool_factory(
                    min_size=cfg.min_connections,
                    max_size=cfg.max_connections,
                    max_queries=cfg.max_queries,
                    max_inactive_connection_lifetime=cfg.max_inactive_connection_lifetime,
                    init=self._on_new_connection,
                    **self._connect_kwargs(cfg),
                )
            except Exception as exc:
                self._failed_connections += 1
                translated = await tls_refusal(exc, cfg) or as_connect_error(exc, cfg)
                if translated is None:
                    raise
                raise translated from exc
            _log.info("PostgreSQL pool started for %s", cfg.describe())

    async def renew_credentials(self, user: str | None = None) -> int:
        """Log in as ``user`` (default: the configured one) from now on and retire every older connection.

        For rotated credentials: one probe connection with the new user and the current
        password (from the password source) is opened first, so credentials the server
        refuses raise ``ConfigurationError`` (an unreachable server ``OutageError``) and
        leave the pool as it was. Then the pool's connect arguments are replaced, every
        pooled connection is expired (one in use is closed when released) and the idle
        ones are reopened at once, so no session logged in with the old credentials
        outlives this call except those still in use. Returns how many were reopened.
        """
        pool = self._require_pool()
        renewed = self._config if user is None else self._config.model_copy(update={"user": user})
        kwargs = self._connect_kwargs(renewed)
        try:
            probe = await self._connect(**kwargs)
        except Exception as exc:
            translated = await tls_refusal(exc, renewed) or as_connect_error(exc, renewed)
            if translated is None:
                raise
            raise translated from exc
        await probe.close()
        self._config = renewed
        pool.set_connect_args(**kwargs)
        await self._expire(pool)
        reopened = await self._cycle_idle(pool)
        _log.info(
            "PostgreSQL %s: credentials renewed, %d idle connections reopened", renewed.describe(), reopened
        )
        return reopened

    async def _cycle_idle(self, pool: asyncpg.Pool[asyncpg.Record]) -> int:
        """Acquire and release the idle connections together: expired ones reconnect on acquire."""
        idle = pool.get_idle_size()
        if idle == 0:
            return 0
        outcomes = await asyncio.gather(
            *(pool.acquire(timeout=self._config.connect_timeout) for _ in range(idle)), return_exceptions=True
        )
        connections = [c for c in outcomes if not isinstance(c, BaseException)]
        for connection in connections:
            await self._release(pool, connection)
        return len(connections)

    def _connect_kwargs(self, cfg: ModelPostgresConnectionConfig) -> dict[str, Any]:
        """asyncpg's connect arguments for ``cfg`` (shared by the pool and the renewal probe)."""
        search_path = cfg.schema_name if cfg.schema_name == "public" else f'"{cfg.schema_name}", public'
        return {
            "host": cfg.host,
            "port": cfg.port,
            "user": cfg.user,
            "password": self._password_source
            or (cfg.password.get_secret_value() if cfg.password is not None else None),
            "database": cfg.database,
            "command_timeout": cfg.command_timeout,
            "timeout": cfg.connect_timeout,
            "ssl": build_ssl(cfg),
            "server_settings": {"application_name": cfg.application_name, "search_path": search_path},
        }

    async def initialize(self) -> None:
        """``start()`` under the original guide's name; idempotent."""
        await self.start()

    async def stop(self) -> None:
        """Close the pool; idempotent. In-use connections are waited for up to ``close_timeout``."""
        async with self._start_lock:
            pool, self._pool = self._pool, None
            self._stopped = True
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self._close_timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pool.terminate()
        _log.info("PostgreSQL pool stopped for %s", self._config.describe())

    async def __aenter__(self) -> PostgresConnectionManager:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @asynccontextmanager
    async def acquire_connection(self, *, timeout_seconds: float | None = None) -> AsyncIterator[Connection]:
        """Borrow a connection; it is returned to the pool when the block exits.

        An outage while acquiring or inside the block is raised as
        ``OutageError``; other exceptions from the block pass through unchanged.
        """
        pool = self._require_pool()
        wait = self._config.connect_timeout if timeout_seconds is None else timeout_seconds
        try:
            connection = await pool.acquire(timeout=wait)
        except Exception as exc:
            await self._raise_translated(exc, None)
        try:
            yield connection
        except Exception as exc:
            await self._raise_translated(exc, connection)
        else:
            self._note_success()
        finally:
            await self._release(pool, connection)

    async def execute(self, query: str, *args: object, timeout_seconds: float | None = None) -> str:
        """Run a statement; returns its status tag (e.g. ``INSERT 0 1``)."""
        return await self._timed(lambda c: c.execute(query, *args, timeout=timeout_seconds))

    async def executemany(
        self, query: str, args: Iterable[Sequence[object]], *, timeout_seconds: float | None = None
    ) -> None:
        """Run a statement once per argument tuple, in one round of the protocol."""
        await self._timed(lambda c: c.executemany(query, args, timeout=timeout_seconds))

    async def fetch(
        self, query: str, *args: object, timeout_seconds: float | None = None
    ) -> list[asyncpg.Record]:
        """All rows of a query."""
        return await self._timed(lambda c: c.fetch(query, *args, timeout=timeout_seconds))

    async def fetchrow(
        self, query: str, *args: object, timeout_seconds: float | None = None
    ) -> asyncpg.Record | None:
        """The first row of a query, or ``None``."""
        return await self._timed(lambda c: c.fetchrow(query, *args, timeout=timeout_seconds))

    async def fetchval(
        self, query: str, *args: object, column: int = 0, timeout_seconds: float | None = None
    ) -> Any:
        """One value of the first row, or ``None``."""
        return await self._timed(lambda c: c.fetchval(query, *args, column=column, timeout=timeout_seconds))

    async def copy_records_to_table(
        self,
        table_name: str,
        *,
        records: Iterable[Sequence[object]],
        columns: Sequence[str] | None = None,
        schema_name: str | None = None,
        timeout_seconds: float | None = None,
    ) -> str:
        """Bulk-load rows with COPY (the fast path for batches); returns the status tag."""
        return await self._timed(
            lambda c: c.copy_records_to_table(
                table_name, records=records, columns=columns, schema_name=schema_name, timeout=timeout_seconds
            )
        )

    async def health_check(self) -> ModelPostgresHealth:
        """The seed's health shape; never raises. ``error`` is sanitised when unhealthy."""
        pool = self._pool
        snapshot = self._pool_snapshot(pool)
        if pool is None:
            return self._health("unhealthy", snapshot, None, "connection manager not started")
        try:
            async with asyncio.timeout(self._health_timeout):
                async with self.acquire_connection() as connection:
                    row = await connection.fetchrow(_HEALTH_QUERY)
        except Exception as exc:
            error = str(exc) if isinstance(exc, LifecycleError) else sanitize(exc, self._config)
            return self._health("unhealthy", self._pool_snapshot(self._pool), None, error)
        assert row is not None
        info = ModelDatabaseInfo(
            version=str(row["version"]),
            current_schema=str(row["current_schema"]),
            active_connections=int(row["active_connections"]),
        )
        snapshot = self._pool_snapshot(pool)
        exhausted = snapshot.size >= snapshot.max_size and snapshot.idle_connections == 0
        return self._health("degraded" if exhausted else "healthy", snapshot, info, None)

    def get_connection_stats(self) -> ConnectionStats:
        """Pool size and counters since ``start()``."""
        pool = self._pool
        size = pool.get_size() if pool is not None else 0
        idle = pool.get_idle_size() if pool is not None else 0
        return ConnectionStats(
            size=size,
            checked_out=max(0, size - idle),
            overflow=max(0, size - self._config.min_connections),
            checked_in=idle,
            total_connections=self._connections_opened,
            failed_connections=self._failed_connections,
            reconnect_count=self._reconnects,
            query_count=self._queries,
            failed_queries=self._failed_queries,
            average_response_time_ms=self._average_ms(),
        )

    # -- internals ---------------------------------------------------------------------------

    async def _current_password(self) -> str | None:
        if self._password_source is not None:
            return await self._password_source()
        return self._config.password.get_secret_value() if self._config.password is not None else None

    def _require_pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            state = "stopped" if self._stopped else "not started"
            raise LifecycleError(f"PostgresConnectionManager is {state}")
        return self._pool

    async def _timed[R](self, operation: Callable[[Connection], Awaitable[R]]) -> R:
        started = self._clock.monotonic()
        try:
            async with self.acquire_connection() as connection:
                result = await operation(connection)
        except Exception:
            self._failed_queries += 1
            raise
        finally:
            self._queries += 1
            self._total_query_seconds += max(0.0, self._clock.monotonic() - started)
        return result

    async def _raise_translated(self, exc: Exception, connection: Connection | None) -> NoReturn:
        outage = as_outage(exc, self._config, connection)
        if outage is None:
            raise exc
        await self._note_outage()
        raise outage from exc

    @property
    def generation(self) -> int:
        """How many times the pooled connections were expired (an outage, renewed credentials).

        A connection held for long (the outbox relay's listening connection) is given back
        and taken again when this changes, so it never outlives a renewal."""
        return self._generation

    async def _expire(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._generation += 1
        await pool.expire_connections()

    async def _note_outage(self) -> None:
        self._failed_connections += 1
        if not self._outage_pending:
            _log.warning(
                "PostgreSQL %s: outage detected; expiring pooled connections", self._config.describe()
            )
        self._outage_pending = True
        pool = self._pool
        if pool is not None:
            # Connections that died with the server are replaced on their next acquire
            # instead of failing one query each.
            await self._expire(pool)

    def _note_success(self) -> None:
        if self._outage_pending:
            self._outage_pending = False
            self._reconnects += 1
            _log.info("PostgreSQL %s: connectivity restored", self._config.describe())

    async def _release(self, pool: asyncpg.Pool[asyncpg.Record], connection: Connection) -> None:
        try:
            await pool.release(connection)
        except Exception:  # releasing a connection that died with the server
            _log.debug("release of a dead connection failed", exc_info=True)

    async def _on_new_connection(self, connection: asyncpg.Connection[asyncpg.Record]) -> None:
        self._connections_opened += 1

    def _pool_snapshot(self, pool: asyncpg.Pool[asyncpg.Record] | None) -> ModelPoolSnapshot:
        cfg = self._config
        if pool is None:
            return ModelPoolSnapshot(
                size=0, min_size=cfg.min_connections, max_size=cfg.max_connections, idle_connections=0
            )
        return ModelPoolSnapshot(
            size=pool.get_size(),
            min_size=pool.get_min_size(),
            max_size=pool.get_max_size(),
            idle_connections=pool.get_idle_size(),
        )

    def _health(
        self,
        status: HealthStatus,
        snapshot: ModelPoolSnapshot,
        info: ModelDatabaseInfo | None,
        error: str | None,
    ) -> ModelPostgresHealth:
        return ModelPostgresHealth(
            status=status,
            connection_pool=snapshot,
            performance=ModelQueryPerformance(
                total_queries=self._queries,
                failed_connections=self._failed_connections,
                reconnect_count=self._reconnects,
                average_response_time_ms=self._average_ms(),
            ),
            database_info=info,
            error=error,
        )

    def _average_ms(self) -> float:
        return 0.0 if self._queries == 0 else 1000.0 * self._total_query_seconds / self._queries


def get_connection_manager() -> PostgresConnectionManager:
    """The process's connection manager (the original guide's entry point).

    In ``onex-infra run`` it is the service's own pool; elsewhere the one built from the
    environment as the service would build it (``runtime.process_services``), not started:
    ``await get_connection_manager().initialize()``.
    """
    from omnibase_infra.runtime.process_services import process_components

    return process_components().database


__all__ = [
    "ConnectFactory",
    "Connection",
    "PoolFactory",
    "PostgresConnectionManager",
    "get_connection_manager",
]
