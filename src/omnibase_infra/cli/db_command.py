"""``onex-infra db migrate``: create or upgrade the service's tables; ``db status``: show the version.

Only the ``POSTGRES_*`` variables are read: a migration Job needs no Kafka settings.
``db migrate --backup [DIR]`` first makes a verified backup of the schema
(``db_backup_command``) when a migration is pending, and refuses to migrate if that fails.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from omnibase_infra.cli.db_backup_command import (
    bin_dir_option,
    render_backup,
    run_guarded,
    single_connection_config,
)
from omnibase_infra.errors import BackupError
from omnibase_infra.infrastructure.postgres_backup import BackupResult
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations


async def _backup_if_pending(
    manager: PostgresConnectionManager, backup_dir: Path, bin_dir: Path | None
) -> tuple[BackupResult | None, str]:
    """The backup taken before migrating, or ``None`` and why none was needed."""
    schema = manager.config.schema_name
    async with manager.acquire_connection() as conn:
        exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema)
        have = await migrations.current_version(conn, schema)
    if not exists:
        return None, f"schema {schema!r} does not exist yet: nothing to back up"
    if have >= migrations.latest_version():
        return None, f"schema {schema!r} is at version {have}: no migration pending, no backup taken"
    try:
        return await manager.backup_before_migration(backup_dir, bin_dir=bin_dir), ""
    except BackupError as exc:
        raise BackupError(
            f"the backup before migrating failed, schema left at version {have}: {exc}"
        ) from exc


async def _migrate(args: argparse.Namespace) -> int:
    config = single_connection_config()
    backup: BackupResult | None = None
    note = ""
    async with PostgresConnectionManager(config) as manager:
        if args.backup is not None:
            backup, note = await _backup_if_pending(manager, Path(args.backup), bin_dir_option(args))
        async with manager.acquire_connection() as conn:
            report = await migrations.migrate(conn, config.schema_name)
    if args.json:
        print(
            json.dumps(
                {
                    "schema": report.schema,
                    "previous_version": report.previous_version,
                    "current_version": report.current_version,
                    "applied": list(report.applied),
                    "backup": str(backup.dump_file) if backup is not None else None,
                }
            )
        )
        return 0
    if backup is not None:
        print(render_backup(backup))
    elif note:
        print(note)
    if report.applied:
        print(
            f"schema {report.schema!r}: version {report.previous_version} -> "
            f"{report.current_version} (applied {', '.join(report.applied)})"
        )
    else:
        print(f"schema {report.schema!r}: already at version {report.current_version}")
    return 0


async def _status(args: argparse.Namespace) -> int:
    config = single_connection_config()
    async with PostgresConnectionManager(config) as manager, manager.acquire_connection() as conn:
        have = await migrations.current_version(conn, config.schema_name)
    want = migrations.latest_version()
    if args.json:
        print(json.dumps({"schema": config.schema_name, "version": have, "latest": want}))
    else:
        state = "up to date" if have == want else "needs `onex-infra db migrate`"
        print(f"schema {config.schema_name!r}: version {have} of {want} ({state})")
    return 0 if have == want else 1


def run_migrate(args: argparse.Namespace) -> int:
    return run_guarded("refusing to migrate", _migrate(args))


def run_status(args: argparse.Namespace) -> int:
    return run_guarded("db status", _status(args))
