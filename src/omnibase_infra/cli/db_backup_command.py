"""``onex-infra db backup`` and ``db verify-backup``: a checked ``pg_dump`` of POSTGRES_SCHEMA.

Only the ``POSTGRES_*`` variables are read, and ``verify-backup`` reads them only for
``--restore-into``. Exit codes: 0 the backup was made / every check passed, 1 a check or
the backup failed (missing ``pg_dump``, changed file, ...), 3 a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg

from omnibase_infra.errors import BackupError, ConfigurationError, InfraError
from omnibase_infra.infrastructure import postgres_backup_files as files
from omnibase_infra.infrastructure.postgres_backup import BackupResult, verify_backup
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.models.model_backup import ModelBackupVerification
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig
from omnibase_infra.settings import load_postgres_connection


def single_connection_config() -> ModelPostgresConnectionConfig:
    """The ``POSTGRES_*`` settings with a pool of one connection (a command, not the service)."""
    return load_postgres_connection().model_copy(update={"min_connections": 0, "max_connections": 1})


def bin_dir_option(args: argparse.Namespace) -> Path | None:
    """``--pg-bin DIR``: the only folder to take ``pg_dump``/``pg_restore`` from."""
    return Path(args.pg_bin) if getattr(args, "pg_bin", None) else None


def backup_summary(result: BackupResult) -> dict[str, object]:
    """The JSON shape of a backup: its three files, the manifest and the verification."""
    return {
        "dump_file": str(result.dump_file),
        "checksum_file": str(files.checksum_path(result.dump_file)),
        "manifest_file": str(files.manifest_path(result.dump_file)),
        "manifest": result.manifest.model_dump(mode="json"),
        "verification": verification_summary(result.verification),
    }


def verification_summary(verification: ModelBackupVerification) -> dict[str, object]:
    return {
        "dump_file": verification.dump_file,
        "ok": verification.ok,
        "checks": [check.model_dump(mode="json") for check in verification.checks],
    }


def render_backup(result: BackupResult) -> str:
    manifest = result.manifest
    return "\n".join(
        [
            f"backup {result.dump_file} ({manifest.size_bytes} bytes)",
            f"  schema {manifest.schema_name!r} at version {manifest.schema_version}: "
            f"{len(manifest.tables)} table(s), {sum(manifest.tables.values())} row(s)",
            f"  sha256 {manifest.sha256}  ({files.checksum_path(result.dump_file).name})",
            f"  manifest {files.manifest_path(result.dump_file).name}",
            "  verified: " + ", ".join(check.name for check in result.verification.checks),
        ]
    )


def render_verification(verification: ModelBackupVerification) -> str:
    lines = [f"verify {verification.dump_file}"]
    lines += [
        f"  {'ok' if check.ok else 'FAIL':<5} {check.name:<9} {check.detail}" for check in verification.checks
    ]
    if verification.ok:
        lines.append("verify-backup: every check passed")
    else:
        lines.append(f"verify-backup: {len(verification.problems)} problem(s)")
    return "\n".join(lines)


async def _backup(args: argparse.Namespace) -> int:
    config = single_connection_config()
    async with PostgresConnectionManager(config) as manager:
        result = await manager.backup_before_migration(Path(args.output), bin_dir=bin_dir_option(args))
    print(json.dumps(backup_summary(result), indent=2) if args.json else render_backup(result))
    return 0


async def _verify(args: argparse.Namespace) -> int:
    dump = Path(args.file)
    if args.restore_into is None:  # no server needed
        verification = await verify_backup(dump, bin_dir=bin_dir_option(args))
    else:
        async with PostgresConnectionManager(single_connection_config()) as manager:
            verification = await manager.verify_backup(
                dump, restore_into=args.restore_into, bin_dir=bin_dir_option(args)
            )
    if args.json:
        print(json.dumps(verification_summary(verification), indent=2))
    else:
        print(render_verification(verification))
    return 0 if verification.ok else 1


def run_guarded(action: str, coroutine: Coroutine[Any, Any, int]) -> int:
    """Run a db command's coroutine; map the error tree to the CLI's exit codes (0, 1, 3)."""
    try:
        return asyncio.run(coroutine)
    except ConfigurationError as exc:
        print(f"onex-infra: configuration error: {exc}", file=sys.stderr)
        return 3
    except BackupError as exc:
        print(f"onex-infra: {action}: {exc}", file=sys.stderr)
        return 1
    except InfraError as exc:
        print(f"onex-infra: {exc}", file=sys.stderr)
        return 1
    except asyncpg.PostgresError as exc:  # e.g. 42501: the role may not read a table
        print(f"onex-infra: PostgreSQL refused: {exc} (SQLSTATE {exc.sqlstate})", file=sys.stderr)
        return 1


def run_backup(args: argparse.Namespace) -> int:
    return run_guarded("backup failed", _backup(args))


def run_verify(args: argparse.Namespace) -> int:
    return run_guarded("cannot verify the backup", _verify(args))
