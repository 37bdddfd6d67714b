"""Backups of the service's schema: ``pg_dump`` with a checksum and a manifest, and their check.

Guarantees of ``create_backup``:

- The dump, the row counts and the schema version come from one snapshot: a read-only
  REPEATABLE READ transaction exports it (``pg_export_snapshot``), counts the rows of every
  table of ``POSTGRES_SCHEMA`` in it and keeps it open while ``pg_dump --snapshot`` dumps
  exactly that state, whatever the service writes meanwhile.
- ``pg_dump`` is the server's major release (``postgres_client_tools``); it writes to
  ``<dump>.partial``, renamed only once it succeeded, so a failed run never leaves a file
  that looks like a backup. Then the checksum and the manifest are written and the result
  is verified (checksum, ``pg_restore --list``); a backup that does not verify raises.
- The password reaches ``pg_dump`` as ``PGPASSWORD`` only; errors carry no password.

``verify_backup`` runs every check and reports each (``ModelBackupVerification``): the
manifest, the checksum and size, the archive's table of contents and, given a scratch
database, a restore into it whose row counts must equal the manifest's.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import BackupError
from omnibase_infra.infrastructure import postgres_backup_files as files
from omnibase_infra.infrastructure.postgres_client_tools import (
    ClientTools,
    client_environment,
    failure,
    find_client_tools,
    run_client,
    server_major,
)
from omnibase_infra.infrastructure.postgres_errors import sanitize
from omnibase_infra.infrastructure.postgres_schema_version import current_version, quote_identifier
from omnibase_infra.infrastructure.postgres_ssl import build_ssl
from omnibase_infra.models.model_backup import ModelBackupCheck, ModelBackupManifest, ModelBackupVerification
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

if TYPE_CHECKING:
    type Connection = asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]

_TABLES = """
SELECT c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


@dataclass(frozen=True)
class BackupResult:
    """A verified backup: the dump's path, its manifest and the verification."""

    dump_file: Path
    manifest: ModelBackupManifest
    verification: ModelBackupVerification

    @property
    def backup_id(self) -> str:
        return self.manifest.backup_id


async def _row_counts(conn: Connection, schema: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in await conn.fetch(_TABLES, schema):
        table = str(record["relname"])
        value = await conn.fetchval(
            f"SELECT count(*) FROM {quote_identifier(schema)}.{quote_identifier(table)}"
        )
        counts[table] = int(value)
    return counts


async def create_backup(
    conn: Connection,
    config: ModelPostgresConnectionConfig,
    *,
    password: str | None,
    output_dir: Path,
    bin_dir: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> BackupResult:
    """Dump ``config.schema_name`` into ``output_dir`` and verify it; raises ``BackupError``."""
    schema = config.schema_name
    version_num = int(await conn.fetchval("SHOW server_version_num"))
    server_version = str(await conn.fetchval("SHOW server_version")).split()[0]
    tools = await find_client_tools(server_major(version_num), bin_dir=bin_dir)
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema):
        raise BackupError(f"schema {schema!r} does not exist in {config.describe()}: nothing to back up")
    created_at = clock.now()
    dump = await asyncio.to_thread(files.prepare_dump_path, output_dir, config.database, schema, created_at)
    partial = files.partial_path(dump)
    env = client_environment(config, password)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = str(await conn.fetchval("SELECT pg_export_snapshot()"))
            schema_version = await current_version(conn, schema)
            tables = await _row_counts(conn, schema)
            run = await run_client(
                tools.pg_dump,
                [
                    "--format=custom",
                    f"--schema={quote_identifier(schema)}",
                    f"--snapshot={snapshot}",
                    f"--file={partial}",
                    "--no-password",
                ],
                env,
            )
        if run.returncode != 0:
            raise failure(tools.pg_dump, run, password)
    except BaseException:
        await asyncio.to_thread(files.discard, dump)
        raise
    digest, size = await asyncio.to_thread(files.seal, dump)
    manifest = ModelBackupManifest(
        backup_id=dump.name.removesuffix(files.DUMP_SUFFIX),
        dump_file=dump.name,
        sha256=digest,
        size_bytes=size,
        created_at=created_at,
        database=config.database,
        schema_name=schema,
        schema_version=schema_version,
        server_version=server_version,
        pg_dump_version=tools.version,
        tables=tables,
    )
    await asyncio.to_thread(files.write_checksum, dump, manifest.sha256)
    await asyncio.to_thread(files.write_manifest, dump, manifest)
    verification = await verify_backup(dump, tools=tools)
    if not verification.ok:
        raise BackupError(f"{dump}: the new backup does not verify: {'; '.join(verification.problems)}")
    return BackupResult(dump, manifest, verification)


async def verify_backup(
    dump: Path,
    *,
    tools: ClientTools | None = None,
    bin_dir: Path | None = None,
    restore_into: str | None = None,
    config: ModelPostgresConnectionConfig | None = None,
    password: str | None = None,
) -> ModelBackupVerification:
    """Check ``dump`` against its checksum and manifest, list it, optionally restore it.

    ``restore_into`` names an existing database on ``config``'s server (reached with its
    user and ``password``) that must not hold tables in the dumped schema yet; it must not
    be ``config.database``. Without it no server is contacted. A failed check is reported
    in the result; ``BackupError`` is raised only when no ``pg_restore`` of the dump's release
    is found or the restore target cannot be reached.
    """
    checks: list[ModelBackupCheck] = []

    def done() -> ModelBackupVerification:
        return ModelBackupVerification(dump_file=str(dump), checks=tuple(checks))

    try:
        manifest = await asyncio.to_thread(files.read_manifest, dump)
    except BackupError as exc:
        checks.append(ModelBackupCheck(name="manifest", ok=False, detail=str(exc)))
        return done()
    checks.append(
        ModelBackupCheck(
            name="manifest",
            ok=True,
            detail=f"schema {manifest.schema_name!r} at version {manifest.schema_version}, "
            f"{len(manifest.tables)} table(s), {sum(manifest.tables.values())} row(s), "
            f"made {manifest.created_at.isoformat()}",
        )
    )
    checks.append(await asyncio.to_thread(files.check_checksum, dump, manifest))
    if tools is None:
        tools = await find_client_tools(_major_of(manifest.server_version), bin_dir=bin_dir)
    listing = await run_client(tools.pg_restore, ["--list", str(dump)], _offline_environment())
    if listing.returncode != 0:
        checks.append(
            ModelBackupCheck(name="archive", ok=False, detail=str(failure(tools.pg_restore, listing, None)))
        )
    else:
        checks.append(files.check_listing(listing.stdout, manifest))
    if restore_into is not None and all(check.ok for check in checks):
        if config is None:
            raise BackupError("a restore needs the POSTGRES_* connection settings")
        checks.append(await _restore_check(dump, manifest, tools, config, password, restore_into))
    elif restore_into is not None:
        checks.append(
            ModelBackupCheck(
                name="restore", ok=False, detail="not attempted: the file failed the checks above"
            )
        )
    return done()


def _offline_environment() -> dict[str, str]:
    """The environment of ``pg_restore --list``: no ``PG*`` variable, no server."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}


def _major_of(server_version: str) -> int:
    try:
        return int(server_version.split(".", maxsplit=1)[0])
    except ValueError as exc:
        raise BackupError(f"manifest: server_version {server_version!r} has no major release") from exc


async def _connect(
    config: ModelPostgresConnectionConfig, password: str | None, database: str
) -> asyncpg.Connection[asyncpg.Record]:
    try:
        return await asyncpg.connect(
            host=config.host,
            port=config.port,
            user=config.user,
            password=password,
            database=database,
            ssl=build_ssl(config),
            timeout=config.connect_timeout,
            command_timeout=None,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        target = config.model_copy(update={"database": database})
        raise BackupError(f"cannot connect to {target.describe()}: {sanitize(exc, config)}") from exc


async def _restore_check(
    dump: Path,
    manifest: ModelBackupManifest,
    tools: ClientTools,
    config: ModelPostgresConnectionConfig,
    password: str | None,
    database: str,
) -> ModelBackupCheck:
    if "=" in database or "://" in database:
        return ModelBackupCheck(
            name="restore",
            ok=False,
            detail="--restore-into takes a database name on POSTGRES_HOST, not a connection string",
        )
    if database == config.database:
        return ModelBackupCheck(
            name="restore",
            ok=False,
            detail=f"refusing to restore into {database!r}, the service's own database (POSTGRES_DATABASE); "
            "use an empty scratch database",
        )
    schema = manifest.schema_name
    target = await _connect(config, password, database)
    try:
        present = await target.fetch(_TABLES, schema)
        if present:
            return ModelBackupCheck(
                name="restore",
                ok=False,
                detail=f"database {database!r} already has {len(present)} table(s) in schema {schema!r}; "
                "use an empty scratch database",
            )
        run = await run_client(
            tools.pg_restore,
            [
                "--exit-on-error",
                "--single-transaction",
                # An empty schema of the same name (a new database's `public`) is replaced.
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--no-password",
                f"--dbname={database}",
                str(dump),
            ],
            client_environment(config, password, database=database),
        )
        if run.returncode != 0:
            return ModelBackupCheck(
                name="restore", ok=False, detail=str(failure(tools.pg_restore, run, password))
            )
        restored: dict[str, int | None] = dict(await _row_counts(target, schema))
    finally:
        await target.close()
    problems = files.compare_counts(manifest.tables, restored)
    if problems:
        return ModelBackupCheck(name="restore", ok=False, detail="; ".join(problems))
    return ModelBackupCheck(
        name="restore",
        ok=True,
        detail=f"restored into {database!r}: {len(manifest.tables)} table(s), row counts equal the manifest",
    )


__all__ = ["BackupResult", "create_backup", "verify_backup"]
