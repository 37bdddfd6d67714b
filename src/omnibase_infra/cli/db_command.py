"""``onex-infra db migrate``: create or upgrade the service's tables; ``db status``: show the version.

Only the ``POSTGRES_*`` variables are read: a migration Job needs no Kafka settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import asyncpg

from omnibase_infra.errors import ConfigurationError, InfraError
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.runtime import migrations
from omnibase_infra.settings import load_postgres_connection


async def _migrate(as_json: bool) -> int:
    config = load_postgres_connection().model_copy(update={"min_connections": 0, "max_connections": 1})
    async with PostgresConnectionManager(config) as manager, manager.acquire_connection() as conn:
        report = await migrations.migrate(conn, config.schema_name)
    if as_json:
        print(
            json.dumps(
                {
                    "schema": report.schema,
                    "previous_version": report.previous_version,
                    "current_version": report.current_version,
                    "applied": list(report.applied),
                }
            )
        )
    elif report.applied:
        print(
            f"schema {report.schema!r}: version {report.previous_version} -> "
            f"{report.current_version} (applied {', '.join(report.applied)})"
        )
    else:
        print(f"schema {report.schema!r}: already at version {report.current_version}")
    return 0


async def _status(as_json: bool) -> int:
    config = load_postgres_connection().model_copy(update={"min_connections": 0, "max_connections": 1})
    async with PostgresConnectionManager(config) as manager, manager.acquire_connection() as conn:
        have = await migrations.current_version(conn, config.schema_name)
    want = migrations.latest_version()
    if as_json:
        print(json.dumps({"schema": config.schema_name, "version": have, "latest": want}))
    else:
        state = "up to date" if have == want else "needs `onex-infra db migrate`"
        print(f"schema {config.schema_name!r}: version {have} of {want} ({state})")
    return 0 if have == want else 1


def _run(coroutine_factory: str, args: argparse.Namespace) -> int:
    try:
        if coroutine_factory == "migrate":
            return asyncio.run(_migrate(bool(args.json)))
        return asyncio.run(_status(bool(args.json)))
    except ConfigurationError as exc:
        print(f"onex-infra: configuration error: {exc}", file=sys.stderr)
        return 3
    except InfraError as exc:
        print(f"onex-infra: {exc}", file=sys.stderr)
        return 1
    except asyncpg.PostgresError as exc:  # e.g. 42501: the role lacks a privilege the migration needs
        print(f"onex-infra: PostgreSQL refused: {exc} (SQLSTATE {exc.sqlstate})", file=sys.stderr)
        return 1


def run_migrate(args: argparse.Namespace) -> int:
    return _run("migrate", args)


def run_status(args: argparse.Namespace) -> int:
    return _run("status", args)
