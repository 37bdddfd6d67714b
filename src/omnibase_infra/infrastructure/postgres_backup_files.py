"""The files of a backup and the checks that need no server: names, checksum, manifest, TOC.

A backup is three files in one folder:

- ``<database>.<schema>.<UTC time>.dump``: ``pg_dump --format=custom`` of the schema;
- ``<dump>.sha256``: its SHA-256 in ``sha256sum`` format (``sha256sum -c`` checks it);
- ``<dump>.manifest.json``: ``ModelBackupManifest`` (schema version, time, rows per table).

Every reader raises ``BackupError`` naming the file and what is wrong with it; the checks
return a ``ModelBackupCheck`` instead, so that a verification reports all of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from omnibase_infra.errors import BackupError
from omnibase_infra.models.model_backup import ModelBackupCheck, ModelBackupManifest

DUMP_SUFFIX = ".dump"
CHECKSUM_SUFFIX = ".sha256"
MANIFEST_SUFFIX = ".manifest.json"
_CHUNK = 1 << 20
# `pg_restore --list`: "3361; 0 16390 TABLE DATA onex onex_event_store onex"
_TABLE_DATA = re.compile(r"^\d+;\s+\d+\s+\d+\s+TABLE DATA\s+(\S+)\s+(\S+)\s")


def dump_name(database: str, schema: str, created_at: datetime) -> str:
    """``<database>.<schema>.<YYYYmmddTHHMMSSZ>.dump`` (safe characters only)."""
    safe = re.compile(r"[^A-Za-z0-9_-]")
    stamp = created_at.strftime("%Y%m%dT%H%M%SZ")
    return f"{safe.sub('_', database)}.{safe.sub('_', schema)}.{stamp}{DUMP_SUFFIX}"


def prepare_dump_path(output_dir: Path, database: str, schema: str, created_at: datetime) -> Path:
    """Create ``output_dir`` if needed; the new dump's path there, which must not exist yet."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"{output_dir}: cannot create the backup folder: {exc.strerror or exc}") from exc
    dump = output_dir / dump_name(database, schema, created_at)
    if dump.exists():
        raise BackupError(f"{dump} already exists; refusing to overwrite a backup")
    return dump


def partial_path(dump: Path) -> Path:
    """Where ``pg_dump`` writes; renamed to ``dump`` only once it succeeded."""
    return dump.with_name(dump.name + ".partial")


def seal(dump: Path) -> tuple[str, int]:
    """Rename the finished ``<dump>.partial`` to ``dump``; its SHA-256 and size."""
    os.replace(partial_path(dump), dump)
    return sha256_of(dump), dump.stat().st_size


def discard(dump: Path) -> None:
    """Remove what a failed ``pg_dump`` left."""
    partial_path(dump).unlink(missing_ok=True)


def checksum_path(dump: Path) -> Path:
    return dump.with_name(dump.name + CHECKSUM_SUFFIX)


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + MANIFEST_SUFFIX)


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_checksum(dump: Path, digest: str) -> Path:
    """Write ``<digest>  <dump name>`` to ``<dump>.sha256``; returns its path."""
    path = checksum_path(dump)
    _write_atomically(path, f"{digest}  {dump.name}\n")
    return path


def read_checksum(dump: Path) -> str:
    """The digest recorded in ``<dump>.sha256`` for this dump's file name."""
    path = checksum_path(dump)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"{path}: cannot read the checksum file: {exc.strerror or exc}") from exc
    found = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)\n?", text)
    if found is None:
        raise BackupError(f"{path}: not a sha256sum line (<64 hex digits>  <file name>)")
    if found.group(2) != dump.name:
        raise BackupError(f"{path}: names {found.group(2)!r}, not {dump.name!r}")
    return found.group(1)


def write_manifest(dump: Path, manifest: ModelBackupManifest) -> Path:
    path = manifest_path(dump)
    _write_atomically(path, manifest.model_dump_json(indent=2) + "\n")
    return path


def read_manifest(dump: Path) -> ModelBackupManifest:
    """The manifest next to ``dump``; ``BackupError`` if it is missing, malformed or for another file."""
    path = manifest_path(dump)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from exc
    try:
        manifest = ModelBackupManifest.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        reason = f"{'.'.join(map(str, first['loc'])) or '<root>'}: {first['msg']}" if first else str(exc)
        raise BackupError(f"{path}: not a backup manifest: {reason}") from exc
    if manifest.dump_file != dump.name:
        raise BackupError(f"{path}: describes {manifest.dump_file!r}, not {dump.name!r}")
    return manifest


def check_checksum(dump: Path, manifest: ModelBackupManifest) -> ModelBackupCheck:
    """The dump's SHA-256 and size against ``<dump>.sha256`` and the manifest."""
    try:
        recorded = read_checksum(dump)
        actual = sha256_of(dump)
        size = dump.stat().st_size
    except (BackupError, OSError) as exc:
        return ModelBackupCheck(name="checksum", ok=False, detail=str(exc))
    if recorded != manifest.sha256:
        return ModelBackupCheck(
            name="checksum",
            ok=False,
            detail=f"{checksum_path(dump).name} ({recorded[:12]}...) and the manifest "
            f"({manifest.sha256[:12]}...) disagree",
        )
    if actual != recorded or size != manifest.size_bytes:
        return ModelBackupCheck(
            name="checksum",
            ok=False,
            detail=f"the file was changed or truncated: sha256 {actual[:12]}... ({size} bytes), "
            f"recorded {recorded[:12]}... ({manifest.size_bytes} bytes)",
        )
    return ModelBackupCheck(name="checksum", ok=True, detail=f"sha256 {actual[:12]}... ({size} bytes)")


def table_data_entries(listing: str, schema: str) -> set[str]:
    """Tables of ``schema`` whose data the archive holds, from ``pg_restore --list``."""
    found: set[str] = set()
    for line in listing.splitlines():
        entry = _TABLE_DATA.match(line)
        if entry is not None and entry.group(1) == schema:
            found.add(entry.group(2))
    return found


def check_listing(listing: str, manifest: ModelBackupManifest) -> ModelBackupCheck:
    """Every table of the manifest has its data in the archive."""
    present = table_data_entries(listing, manifest.schema_name)
    missing = sorted(set(manifest.tables) - present)
    if missing:
        return ModelBackupCheck(
            name="archive", ok=False, detail=f"no data for table(s) {', '.join(missing)} in the archive"
        )
    return ModelBackupCheck(
        name="archive", ok=True, detail=f"pg_restore --list: data of {len(manifest.tables)} table(s)"
    )


def compare_counts(expected: Mapping[str, int], actual: Mapping[str, int | None]) -> list[str]:
    """One line per table whose restored row count differs (``None``: the table is missing)."""
    problems: list[str] = []
    for table in sorted(expected):
        have = actual.get(table)
        if have is None:
            problems.append(f"{table}: not restored")
        elif have != expected[table]:
            problems.append(f"{table}: {have} row(s) restored, {expected[table]} in the manifest")
    return problems


__all__ = [
    "CHECKSUM_SUFFIX",
    "DUMP_SUFFIX",
    "MANIFEST_SUFFIX",
    "check_checksum",
    "check_listing",
    "checksum_path",
    "compare_counts",
    "discard",
    "dump_name",
    "manifest_path",
    "partial_path",
    "prepare_dump_path",
    "read_checksum",
    "read_manifest",
    "seal",
    "sha256_of",
    "table_data_entries",
    "write_checksum",
    "write_manifest",
]
