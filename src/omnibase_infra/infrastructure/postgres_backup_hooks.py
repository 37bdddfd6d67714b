"""The connection manager's backup hooks (the original guide's names); ``postgres_backup`` does the work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omnibase_infra.infrastructure import postgres_backup

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    import asyncpg

    from omnibase_infra.clock import Clock
    from omnibase_infra.infrastructure.postgres_backup import BackupResult
    from omnibase_infra.models.model_backup import ModelBackupVerification
    from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig


class BackupHooks:
    """Mixin of ``PostgresConnectionManager`` (its config, clock, connections and password)."""

    if TYPE_CHECKING:
        _config: ModelPostgresConnectionConfig
        _clock: Clock

        def acquire_connection(
            self, *, timeout_seconds: float | None = None
        ) -> AbstractAsyncContextManager[asyncpg.pool.PoolConnectionProxy[asyncpg.Record]]: ...

        async def _current_password(self) -> str | None: ...

    async def backup_before_migration(
        self, output_dir: str | Path, *, bin_dir: Path | None = None
    ) -> BackupResult:
        """A verified ``pg_dump`` of ``POSTGRES_SCHEMA`` in ``output_dir``, with checksum and manifest.

        Raises ``BackupError`` when no matching ``pg_dump`` is found, the dump fails or the new
        file does not verify; ``result.backup_id`` names it. See ``postgres_backup``.
        """
        password = await self._current_password()
        async with self.acquire_connection() as connection:
            return await postgres_backup.create_backup(
                connection,
                self._config,
                password=password,
                output_dir=Path(output_dir),
                bin_dir=bin_dir,
                clock=self._clock,
            )

    async def verify_backup(
        self, dump_file: str | Path, *, restore_into: str | None = None, bin_dir: Path | None = None
    ) -> ModelBackupVerification:
        """Check a dump against its checksum and manifest; with ``restore_into``, restore and count.

        ``restore_into`` is an empty scratch database on this server (never the service's own).
        ``result.ok`` tells whether every check passed; ``result.problems`` says what failed.
        """
        return await postgres_backup.verify_backup(
            Path(dump_file),
            bin_dir=bin_dir,
            restore_into=restore_into,
            config=self._config,
            password=await self._current_password(),
        )


__all__ = ["BackupHooks"]
