"""Where the service records its schema version, and how to read it.

``onex_schema_version`` in ``POSTGRES_SCHEMA`` holds one row per applied migration
(postgres_adapter's ``migrations`` writes it); the version is its highest ``version``. Kept
here, below the nodes, so that infrastructure (the backup of the schema) can read it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

    # A plain connection or one lent by a pool.
    type Connection = asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]

VERSION_TABLE = "onex_schema_version"


def quote_identifier(identifier: str) -> str:
    """``identifier`` as a quoted SQL identifier (embedded quotes doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


async def current_version(conn: Connection, schema: str) -> int:
    """The recorded schema version, 0 when the schema or the version table does not exist."""
    exists = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f"{quote_identifier(schema)}.{VERSION_TABLE}"
    )
    if not exists:
        return 0
    value = await conn.fetchval(f"SELECT max(version) FROM {quote_identifier(schema)}.{VERSION_TABLE}")
    return int(value or 0)


__all__ = ["VERSION_TABLE", "current_version", "quote_identifier"]
