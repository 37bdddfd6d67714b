"""``db backup``, ``db verify-backup`` and ``db migrate --backup`` with the real pg_dump/pg_restore.

The restore test compares the rows of every service table (as text, sorted) and the
sequences between the source schema and a fresh database, not just the counts.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import asyncpg
from cli_helpers import run_cli

from omnibase_infra.infrastructure.postgres_backup_files import checksum_path, manifest_path
from omnibase_infra.nodes.postgres_adapter.v1_0_0.migrations import latest_version

_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1
"""
_SEQUENCES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'S' ORDER BY 1
"""


def _dsn(postgres_dsn: str, database: str) -> str:
    return postgres_dsn.rsplit("/", 1)[0] + "/" + database


async def _fill(postgres_dsn: str, schema: str) -> None:
    """Rows in every service table, with NULLs, non-ASCII text, binary keys and nested JSON."""
    conn = await asyncpg.connect(postgres_dsn, server_settings={"search_path": schema})
    try:
        await conn.execute(
            """
            INSERT INTO onex_event_store (envelope_id, topic, "partition", "offset", event_type,
                                          correlation_id, envelope_timestamp, payload, metadata)
            SELECT gen_random_uuid(), 'onex.evt.test.v1', i % 3, i,
                   CASE WHEN i % 5 = 0 THEN NULL ELSE 'e' || i END,
                   CASE WHEN i % 2 = 0 THEN gen_random_uuid() END, now() - i * interval '1 second',
                   jsonb_build_object('n', i, 'text', 'ünïcødé ' || i,
                                      'nested', jsonb_build_array(i, NULL, true)),
                   '{"k": "v"}'
            FROM generate_series(1, 500) AS i;
            INSERT INTO onex_inbox (envelope_id, operation, reply_topic, reply)
            SELECT gen_random_uuid(), 'op' || i, 'onex.evt.reply.v1',
                   decode('00ff' || lpad(to_hex(i), 4, '0'), 'hex')
            FROM generate_series(1, 20) AS i;
            INSERT INTO onex_outbox (topic, key, payload, headers, status, attempts, last_error, published_at)
            SELECT 'onex.evt.out.v1', CASE WHEN i % 4 = 0 THEN NULL ELSE convert_to('k' || i, 'UTF8') END,
                   '\\x0001'::bytea, '[["h", "AAE="]]',
                   (ARRAY['pending', 'published', 'dead_letter'])[i % 3 + 1],
                   i % 4, CASE WHEN i % 3 = 2 THEN 'too large' END, CASE WHEN i % 3 = 1 THEN now() END
            FROM generate_series(1, 30) AS i;
            INSERT INTO onex_infrastructure_state (component, status, reason, details)
            VALUES ('postgres', 'healthy', NULL, '{}'), ('kafka', 'degraded', 'broker 2 down', '{"b": [2]}');
            INSERT INTO onex_infrastructure_state_history (component, previous_status, status, reason)
            SELECT 'kafka', 'healthy', 'degraded', 'r' || i FROM generate_series(1, 7) AS i;
            INSERT INTO onex_audit (event_type, severity, correlation_id, resource, action, outcome, details)
            SELECT 'breaker', 'warning', NULL, 'postgres', 'open', 'ok', jsonb_build_object('i', i)
            FROM generate_series(1, 12) AS i;
            """
        )
    finally:
        await conn.close()


async def _contents(dsn: str, schema: str) -> dict[str, list[str]]:
    """Every row of every table of ``schema`` as text, sorted; and each sequence's position."""
    conn = await asyncpg.connect(dsn)
    try:
        found: dict[str, list[str]] = {}
        for record in await conn.fetch(_TABLES, schema):
            table = record["relname"]
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{schema}"."{table}" AS t ORDER BY 1')
            found[table] = [r["row"] for r in rows]
        for record in await conn.fetch(_SEQUENCES, schema):
            sequence = record["relname"]
            position = await conn.fetchrow(f'SELECT last_value, is_called FROM "{schema}"."{sequence}"')
            assert position is not None
            found[f"sequence {sequence}"] = [f"{position['last_value']} {position['is_called']}"]
        return found
    finally:
        await conn.close()


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def _backup(env: dict[str, str], output: Path, *extra: str) -> dict[str, object]:
    result = await run_cli("db", "backup", "--output", str(output), "--json", *extra, env=env)
    assert result.code == 0, result.text
    summary: dict[str, object] = json.loads(result.out)
    return summary


async def test_restore_into_a_fresh_database_reproduces_every_row(
    migrated_env: dict[str, str], postgres_dsn: str, scratch_database: str, tmp_path: Path
) -> None:
    schema = migrated_env["POSTGRES_SCHEMA"]
    await _fill(postgres_dsn, schema)
    source = await _contents(postgres_dsn, schema)
    assert all(source.values()), "every table holds rows, so the comparison means something"

    summary = await _backup(migrated_env, tmp_path)
    dump = Path(str(summary["dump_file"]))
    assert dump.parent == tmp_path and checksum_path(dump).exists() and manifest_path(dump).exists()
    manifest = json.loads(manifest_path(dump).read_text())
    assert manifest["schema_name"] == schema and manifest["schema_version"] == latest_version()
    assert manifest["tables"] == {t: len(rows) for t, rows in source.items() if not t.startswith("sequence ")}

    verified = await run_cli(
        "db", "verify-backup", str(dump), "--restore-into", scratch_database, "--json", env=migrated_env
    )
    assert verified.code == 0, verified.text
    report = json.loads(verified.out)
    assert report["ok"] is True
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("manifest", True),
        ("checksum", True),
        ("archive", True),
        ("restore", True),
    ]
    assert await _contents(_dsn(postgres_dsn, scratch_database), schema) == source


async def test_tampered_backup_fails_verification(migrated_env: dict[str, str], tmp_path: Path) -> None:
    dump = Path(str((await _backup(migrated_env, tmp_path))["dump_file"]))
    good = await run_cli("db", "verify-backup", str(dump), env=migrated_env)
    assert good.code == 0, good.text
    assert "verify-backup: every check passed" in good.out

    _flip_a_byte(dump)
    tampered = await run_cli("db", "verify-backup", str(dump), "--restore-into", "unused", env=migrated_env)
    assert tampered.code == 1, tampered.text
    assert "FAIL  checksum  the file was changed or truncated" in tampered.out
    assert "FAIL  restore   not attempted" in tampered.out


async def test_restore_counts_are_compared_with_the_manifest(
    migrated_env: dict[str, str], postgres_dsn: str, scratch_database: str, tmp_path: Path
) -> None:
    await _fill(postgres_dsn, migrated_env["POSTGRES_SCHEMA"])
    dump = Path(str((await _backup(migrated_env, tmp_path))["dump_file"]))
    manifest = json.loads(manifest_path(dump).read_text())
    manifest["tables"]["onex_outbox"] += 1  # a manifest that promises a row the dump does not hold
    manifest_path(dump).write_text(json.dumps(manifest))
    result = await run_cli(
        "db", "verify-backup", str(dump), "--restore-into", scratch_database, env=migrated_env
    )
    assert result.code == 1, result.text
    assert "FAIL  restore   onex_outbox: 30 row(s) restored, 31 in the manifest" in result.out


async def test_migrate_with_backup_backs_up_first(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = await run_cli("db", "migrate", "--backup", str(tmp_path), "--json", env=cli_env)
    assert result.code == 0, result.text
    report = json.loads(result.out)
    assert (report["previous_version"], report["current_version"]) == (0, latest_version())
    dump = Path(report["backup"])
    assert json.loads(manifest_path(dump).read_text())["schema_version"] == 0
    assert (await run_cli("db", "verify-backup", str(dump), env=cli_env)).code == 0

    again = await run_cli("db", "migrate", "--backup", str(tmp_path), env=cli_env)
    assert again.code == 0, again.text
    assert "no migration pending, no backup taken" in again.out
    assert _names(tmp_path) == sorted([dump.name, checksum_path(dump).name, manifest_path(dump).name])


async def test_migrate_refuses_when_the_backup_fails(cli_env: dict[str, str], tmp_path: Path) -> None:
    no_tools = tmp_path / "no-tools"
    no_tools.mkdir()
    output = tmp_path / "backups"
    result = await run_cli("db", "migrate", "--backup", str(output), "--pg-bin", str(no_tools), env=cli_env)
    assert result.code == 1, result.text
    assert "refusing to migrate: the backup before migrating failed, schema left at version 0" in result.err
    assert f"no {no_tools / 'pg_dump'}" in result.err and "--pg-bin" in result.err
    status = await run_cli("db", "status", env=cli_env)
    assert (status.code, status.out.strip()) == (
        1,
        f"schema {cli_env['POSTGRES_SCHEMA']!r}: version 0 of {latest_version()} "
        "(needs `onex-infra db migrate`)",
    )
    assert not output.exists() or not any(output.iterdir())


async def test_backup_into_an_unusable_folder_fails(migrated_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = await run_cli("db", "backup", "--output", str(blocker / "sub"), env=migrated_env)
    assert result.code == 1
    assert "backup failed" in result.err and "cannot create the backup folder" in result.err


def _recording_wrappers(folder: Path, real_bin: str, log: Path) -> Path:
    """pg_dump/pg_restore wrappers that log their arguments and whether PGPASSWORD is set."""
    folder.mkdir()
    for program in ("pg_dump", "pg_restore"):
        wrapper = folder / program
        wrapper.write_text(
            "#!/bin/sh\n"
            f'echo "{program} $* PGPASSWORD=${{PGPASSWORD:+set}}" >> "{log}"\n'
            f'exec "{real_bin}/{program}" "$@"\n'
        )
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return folder


async def test_password_reaches_the_programs_only_through_the_environment(
    migrated_env: dict[str, str], postgres_dsn: str, scratch_database: str, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
    log = tmp_path / "calls.log"
    wrappers = _recording_wrappers(tmp_path / "bin", f"/usr/lib/postgresql/{major}/bin", log)
    summary = await _backup(migrated_env, tmp_path / "out", "--pg-bin", str(wrappers))
    verified = await run_cli(
        "db",
        "verify-backup",
        str(summary["dump_file"]),
        "--restore-into",
        scratch_database,
        "--pg-bin",
        str(wrappers),
        env=migrated_env,
    )
    assert verified.code == 0, verified.text
    calls = log.read_text().splitlines()
    password = migrated_env["POSTGRES_PASSWORD"]
    assert password and all(password not in call for call in calls)
    dump_calls = [c for c in calls if c.startswith("pg_dump --format=custom")]
    restore_calls = [c for c in calls if c.startswith("pg_restore --exit-on-error")]
    assert len(dump_calls) == 1 and dump_calls[0].endswith("PGPASSWORD=set")
    assert len(restore_calls) == 1 and restore_calls[0].endswith("PGPASSWORD=set")
    assert password not in json.dumps(summary) and password not in verified.text


async def test_a_failing_pg_dump_leaves_no_file_and_no_password(
    migrated_env: dict[str, str], postgres_dsn: str, tmp_path: Path
) -> None:
    """A pg_dump of the right release that writes half a file, prints the password and fails."""
    conn = await asyncpg.connect(postgres_dsn)
    try:
        version = str(await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()
    tools = tmp_path / "bin"
    tools.mkdir()
    for program in ("pg_dump", "pg_restore"):
        script = tools / program
        script.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = "--version" ]; then echo "{program} (PostgreSQL) {version}"; exit 0; fi\n'
            'for a in "$@"; do case "$a" in --file=*) echo half > "${a#--file=}";; esac; done\n'
            'echo "pg_dump: error: connection failed for password $PGPASSWORD" >&2; exit 1\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    output = tmp_path / "out"
    result = await run_cli("db", "backup", "--output", str(output), "--pg-bin", str(tools), env=migrated_env)
    assert result.code == 1, result.text
    assert (
        "backup failed: pg_dump exited with code 1: pg_dump: error: connection failed for password ***"
        in (result.err)
    )
    assert migrated_env["POSTGRES_PASSWORD"] not in result.text
    assert _names(output) == [], "the partial file is removed"
