"""Backups without a server: a dump with its checksum and manifest, stand-in client programs.

Shared by the unit tests of the backup module and of the ``db verify-backup`` command.
"""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr

from omnibase_infra.clock import FakeClock
from omnibase_infra.infrastructure import postgres_backup_files as files
from omnibase_infra.models.model_backup import ModelBackupManifest
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

PASSWORD = "s3cret-pw-value"
TABLES = {"onex_event_store": 120, "onex_outbox": 3, "onex_schema_version": 1}
LISTING = """\
;
; Archive created at 2026-12-07 03:45:00 UTC
;
215; 1259 16390 TABLE onex onex_event_store onex
3361; 0 16390 TABLE DATA onex onex_event_store onex
3362; 0 16400 TABLE DATA onex onex_outbox onex
3363; 0 16410 TABLE DATA onex onex_schema_version onex
3364; 0 16420 TABLE DATA other onex_audit onex
"""


def executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def tools_dir(tmp_path: Path, major: str = "15.18", listing: str = LISTING) -> Path:
    """A folder with fake pg_dump and pg_restore of PostgreSQL ``major``."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    (tmp_path / "listing.txt").write_text(listing, encoding="utf-8")
    version = f'if [ "$1" = "--version" ]; then echo "{{}} (PostgreSQL) {major} (Debian)"; exit 0; fi\n'
    executable(folder / "pg_dump", version.format("pg_dump") + "exit 1\n")
    executable(
        folder / "pg_restore",
        version.format("pg_restore") + f'[ "$1" = "--list" ] && cat "{tmp_path / "listing.txt"}"\n',
    )
    return folder


def config(**changes: object) -> ModelPostgresConnectionConfig:
    base: dict[str, object] = {
        "host": "db.example",
        "port": 5433,
        "database": "onex_production",
        "user": "onex_migrator",
        "password": SecretStr(PASSWORD),
        "schema_name": "onex",
    }
    base.update(changes)
    return ModelPostgresConnectionConfig.model_validate(base)


def backup_files(tmp_path: Path, content: bytes = b"PGDMP custom archive bytes") -> Path:
    """A dump file with its checksum and manifest, as ``create_backup`` writes them."""
    created = FakeClock().now()
    dump = tmp_path / files.dump_name("onex_production", "onex", created)
    dump.write_bytes(content)
    digest = files.sha256_of(dump)
    files.write_checksum(dump, digest)
    files.write_manifest(
        dump,
        ModelBackupManifest(
            backup_id=dump.name.removesuffix(".dump"),
            dump_file=dump.name,
            sha256=digest,
            size_bytes=len(content),
            created_at=created,
            database="onex_production",
            schema_name="onex",
            schema_version=1,
            server_version="15.18",
            pg_dump_version="15.18",
            tables=TABLES,
        ),
    )
    return dump
