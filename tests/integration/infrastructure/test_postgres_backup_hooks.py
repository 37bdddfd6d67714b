"""The connection manager's backup hooks (the original guide's names) against the real server.

``backup_before_migration`` while another connection keeps inserting: the manifest's row
counts and the dump come from one snapshot, so a restore reproduces the manifest exactly
although the table grew during the backup.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig
from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations


async def _insert_until(manager: PostgresConnectionManager, stop: asyncio.Event, inserted: list[int]) -> None:
    while not stop.is_set():
        await manager.execute(
            "INSERT INTO onex_audit (event_type, severity, resource, action, outcome) "
            "VALUES ('test', 'info', 'backup', 'insert', 'ok')"
        )
        inserted.append(1)
        await asyncio.sleep(0)


async def test_backup_hooks_dump_one_snapshot_while_rows_are_written(
    pg_config: ModelPostgresConnectionConfig, scratch_database: str, tmp_path: Path
) -> None:
    async with PostgresConnectionManager(pg_config) as manager:
        async with manager.acquire_connection() as conn:
            await migrations.migrate(conn, pg_config.schema_name)
        stop = asyncio.Event()
        inserted: list[int] = []
        writer = asyncio.create_task(_insert_until(manager, stop, inserted))
        while len(inserted) < 20:  # the writer is running before the backup starts
            await asyncio.sleep(0.01)
        try:
            result = await manager.backup_before_migration(tmp_path)
            during = len(inserted)
        finally:
            stop.set()
            await writer
        assert result.backup_id == result.dump_file.name.removesuffix(".dump")
        assert result.verification.ok, result.verification.problems
        in_backup = result.manifest.tables["onex_audit"]
        now = await manager.fetchval("SELECT count(*) FROM onex_audit")
        assert 20 <= in_backup < now, "rows were written during the backup"
        assert during <= now

        verification = await manager.verify_backup(result.dump_file, restore_into=scratch_database)
    assert verification.ok, verification.problems
    assert verification.checks[-1].name == "restore"
