"""Schema migrations of the service's own tables.

Migrations are the numbered ``sql/NNN_name.sql`` files shipped with the package,
applied in order inside one transaction each, and recorded in
``onex_schema_version``. A transaction-level advisory lock makes concurrent
``migrate`` runs safe. ``run`` calls ``check_schema`` and refuses to start on an
older schema, naming the command that fixes it.

Privileges: in a schema that already exists (e.g. one a DBA created for a migrator
role), ``migrate`` needs only USAGE and CREATE on that schema, not CREATE on the
database (``deploy/postgres/least_privilege_roles.sql``, docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.postgres_schema_version import VERSION_TABLE, current_version
from omnibase_infra.infrastructure.postgres_schema_version import quote_identifier as _quote

if TYPE_CHECKING:
    from omnibase_infra.workflow.protocols import DbConnection

_LOCK_KEY = 0x0E5B_1F7A  # advisory lock id reserved for migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class MigrationReport:
    schema: str
    previous_version: int
    current_version: int
    applied: tuple[str, ...]


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("omnibase_infra.nodes.postgres_adapter.v1_0_0").joinpath("sql").iterdir():
        stem, _, suffix = entry.name.partition(".")
        if suffix != "sql":
            continue
        number, _, name = stem.partition("_")
        found.append(Migration(int(number), name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def latest_version() -> int:
    return available_migrations()[-1].version


async def migrate(conn: DbConnection, schema: str) -> MigrationReport:
    """Create or upgrade the service tables in ``schema``; idempotent."""
    q = _quote(schema)
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        # CREATE SCHEMA IF NOT EXISTS checks CREATE on the database before it looks for the
        # schema, so a migrator without that privilege must not run it for an existing schema.
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema):
            await conn.execute(f"CREATE SCHEMA {q}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {q}.{VERSION_TABLE} ("
            "version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        previous = await current_version(conn, schema)
        await conn.execute(f"SET LOCAL search_path TO {q}")
        for migration in available_migrations():
            if migration.version <= previous:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {q}.{VERSION_TABLE} (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(f"{migration.version:03d}_{migration.name}")
    return MigrationReport(schema, previous, latest_version(), tuple(applied))


async def check_schema(conn: DbConnection, schema: str) -> int:
    """Return the schema version, or raise ``ConfigurationError`` if it is older than this release."""
    have = await current_version(conn, schema)
    want = latest_version()
    if have < want:
        raise ConfigurationError(
            "POSTGRES_SCHEMA",
            f"schema {schema!r} is at version {have}, this release needs {want}: run `onex-infra db migrate`",
        )
    if have > want:
        raise ConfigurationError(
            "POSTGRES_SCHEMA",
            f"schema {schema!r} is at version {have}, newer than this release ({want}): "
            "upgrade omnibase_infra",
        )
    return have


__all__ = [
    "VERSION_TABLE",
    "Migration",
    "MigrationReport",
    "available_migrations",
    "check_schema",
    "current_version",
    "latest_version",
    "migrate",
]
