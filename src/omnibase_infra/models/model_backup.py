"""A backup's manifest and the result of verifying it (``onex-infra db backup`` / ``verify-backup``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_FORMAT: Literal[1] = 1


class ModelBackupManifest(BaseModel):
    """What a dump holds, written next to it as ``<dump>.manifest.json``.

    The row counts and the schema version were read in the very snapshot ``pg_dump`` dumped,
    so a restore of the file must reproduce them exactly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal[1] = MANIFEST_FORMAT
    backup_id: str = Field(min_length=1, description="the dump's file name without its suffix")
    dump_file: str = Field(min_length=1, description="the dump's file name, in the manifest's folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    created_at: datetime
    database: str = Field(min_length=1)
    schema_name: str = Field(min_length=1)
    schema_version: int = Field(ge=0, description="the service's migration version when dumped")
    server_version: str = Field(min_length=1, description="the server's version, e.g. 15.18")
    pg_dump_version: str = Field(min_length=1)
    tables: dict[str, int] = Field(description="table name -> row count in the dumped snapshot")


class ModelBackupCheck(BaseModel):
    """One check of a verification: its name, whether it passed, and what was found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["manifest", "checksum", "archive", "restore"]
    ok: bool
    detail: str


class ModelBackupVerification(BaseModel):
    """Every check run on a dump; ``ok`` only if all passed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dump_file: str
    checks: tuple[ModelBackupCheck, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(f"{check.name}: {check.detail}" for check in self.checks if not check.ok)


__all__ = ["MANIFEST_FORMAT", "ModelBackupCheck", "ModelBackupManifest", "ModelBackupVerification"]
