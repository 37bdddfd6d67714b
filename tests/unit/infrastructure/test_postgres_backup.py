"""Backups without a server: file names, checksum, manifest, TOC, finding the client programs,
the client environment, and ``verify_backup`` on good, tampered and incomplete backups.

``pg_dump``/``pg_restore`` are played by small shell scripts (``backup_fakes``), so no
PostgreSQL is needed; the real programs are
exercised by tests/integration/infrastructure/test_postgres_backup.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from backup_fakes import LISTING, PASSWORD, TABLES, backup_files, executable, tools_dir
from backup_fakes import config as make_config

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import BackupError
from omnibase_infra.infrastructure import postgres_backup_files as files
from omnibase_infra.infrastructure.postgres_backup import verify_backup
from omnibase_infra.infrastructure.postgres_client_tools import (
    client_environment,
    failure,
    find_client_tools,
    mask,
    run_client,
    server_major,
)

# -- names, checksum, manifest -----------------------------------------------------------------


def test_dump_name_is_database_schema_and_utc_time() -> None:
    created = datetime(2026, 12, 7, 3, 45, 9, tzinfo=UTC)
    assert files.dump_name("onex_production", "onex", created) == "onex_production.onex.20261207T034509Z.dump"
    assert files.dump_name("my db/x", "onex", created).startswith("my_db_x.onex.")


def test_checksum_file_is_sha256sum_format(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    line = files.checksum_path(dump).read_text(encoding="utf-8")
    assert line == f"{files.sha256_of(dump)}  {dump.name}\n"
    assert files.read_checksum(dump) == files.sha256_of(dump)


def test_manifest_round_trips_with_row_counts(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    manifest = files.read_manifest(dump)
    assert manifest.tables == TABLES
    assert manifest.schema_version == 1
    assert manifest.created_at == FakeClock().now()
    assert json.loads(files.manifest_path(dump).read_text())["dump_file"] == dump.name


def test_checksum_of_an_untouched_dump_passes(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    check = files.check_checksum(dump, files.read_manifest(dump))
    assert check.ok, check.detail


def test_tampered_dump_fails_the_checksum(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    manifest = files.read_manifest(dump)
    data = bytearray(dump.read_bytes())
    data[3] ^= 0x01  # one bit, same size
    dump.write_bytes(bytes(data))
    check = files.check_checksum(dump, manifest)
    assert not check.ok
    assert "changed or truncated" in check.detail


def test_truncated_dump_fails_the_checksum(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    manifest = files.read_manifest(dump)
    dump.write_bytes(dump.read_bytes()[:-4])
    check = files.check_checksum(dump, manifest)
    assert not check.ok and f"({manifest.size_bytes} bytes)" in check.detail


def test_checksum_file_disagreeing_with_the_manifest_fails(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    files.write_checksum(dump, "0" * 64)
    check = files.check_checksum(dump, files.read_manifest(dump))
    assert not check.ok and "disagree" in check.detail


def test_missing_checksum_file_is_named(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    files.checksum_path(dump).unlink()
    check = files.check_checksum(dump, files.read_manifest(dump))
    assert not check.ok and files.checksum_path(dump).name in check.detail


def test_checksum_file_of_another_dump_is_refused(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    files.checksum_path(dump).write_text(f"{'a' * 64}  other.dump\n", encoding="utf-8")
    with pytest.raises(BackupError, match=r"names 'other.dump'"):
        files.read_checksum(dump)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not a backup manifest"),
        ('{"format_version": 1}', "backup_id: Field required"),
        ("[]", "not a backup manifest"),
    ],
)
def test_malformed_manifest_names_the_file_and_the_problem(tmp_path: Path, content: str, reason: str) -> None:
    dump = backup_files(tmp_path)
    files.manifest_path(dump).write_text(content, encoding="utf-8")
    with pytest.raises(BackupError, match=reason) as raised:
        files.read_manifest(dump)
    assert str(files.manifest_path(dump)) in str(raised.value)


def test_manifest_of_another_dump_is_refused(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    renamed = dump.with_name("renamed.dump")
    dump.rename(renamed)
    files.manifest_path(dump).rename(files.manifest_path(renamed))
    with pytest.raises(BackupError, match="describes"):
        files.read_manifest(renamed)


def test_listing_yields_the_schema_tables_with_data() -> None:
    assert files.table_data_entries(LISTING, "onex") == set(TABLES)
    assert files.table_data_entries(LISTING, "other") == {"onex_audit"}


def test_listing_without_a_table_of_the_manifest_fails(tmp_path: Path) -> None:
    manifest = files.read_manifest(backup_files(tmp_path))
    check = files.check_listing(LISTING.replace("onex onex_outbox", "onex x_outbox"), manifest)
    assert not check.ok and "onex_outbox" in check.detail


def test_compare_counts_names_each_difference() -> None:
    assert files.compare_counts(TABLES, dict(TABLES)) == []
    assert files.compare_counts(TABLES, {"onex_event_store": 119, "onex_outbox": 3}) == [
        "onex_event_store: 119 row(s) restored, 120 in the manifest",
        "onex_schema_version: not restored",
    ]


# -- client programs -----------------------------------------------------------------------------


def test_server_major_of_server_version_num() -> None:
    assert server_major(150018) == 15
    assert server_major(170002) == 17


async def test_client_tools_of_the_server_release_are_found(tmp_path: Path) -> None:
    tools = await find_client_tools(15, bin_dir=tools_dir(tmp_path))
    assert (tools.major, tools.version) == (15, "15.18")
    assert tools.pg_dump.name == "pg_dump" and tools.pg_restore.name == "pg_restore"


async def test_missing_binary_names_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BackupError) as raised:
        await find_client_tools(15, bin_dir=empty)
    message = str(raised.value)
    assert f"no {empty / 'pg_dump'}" in message
    assert "postgresql-client-15" in message and "--pg-bin" in message


async def test_missing_binary_on_path_and_debian_layout(tmp_path: Path) -> None:
    with pytest.raises(
        BackupError, match=r"pg_dump of PostgreSQL 99 .*no /usr/lib/postgresql/99/bin/pg_dump"
    ):
        await find_client_tools(99, path=str(tmp_path))


async def test_client_of_another_major_release_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"is PostgreSQL 16.2.*postgresql-client-15"):
        await find_client_tools(15, bin_dir=tools_dir(tmp_path, major="16.2"))


async def test_program_that_is_not_pg_dump_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    executable(folder / "pg_dump", "echo hello\n")
    with pytest.raises(BackupError, match="does not report a PostgreSQL version"):
        await find_client_tools(15, bin_dir=folder)


def test_client_environment_carries_the_password_and_drops_foreign_pg_variables() -> None:
    config = make_config(ssl_mode="verify-full", ssl_ca_file="/ca.crt")
    env = client_environment(
        config, PASSWORD, base={"PATH": "/bin", "PGPASSWORD": "foreign", "PGSERVICE": "x", "LANG": "C"}
    )
    assert env["PGPASSWORD"] == PASSWORD
    assert "PGSERVICE" not in env
    assert (env["PATH"], env["LANG"]) == ("/bin", "C")
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "db.example",
        "5433",
        "onex_migrator",
        "onex_production",
    )
    assert (env["PGSSLMODE"], env["PGSSLROOTCERT"]) == ("verify-full", "/ca.crt")
    assert client_environment(config, None, database="scratch", base={})["PGDATABASE"] == "scratch"
    assert "PGPASSWORD" not in client_environment(config, None, base={"PGPASSWORD": "foreign"})


async def test_client_failure_masks_the_password(tmp_path: Path) -> None:
    program = executable(
        tmp_path / "pg_dump", f'echo "FATAL: bad password {PASSWORD} for $PGUSER" >&2\nexit 1\n'
    )
    run = await run_client(program, ["--no-password"], {"PGUSER": "onex"})
    error = failure(program, run, PASSWORD)
    assert str(error) == "pg_dump exited with code 1: FATAL: bad password *** for onex"
    assert mask("x" * 5000, None).startswith("...") and len(mask("x" * 5000, None)) == 2003


async def test_a_program_that_cannot_run_is_a_backup_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="cannot run"):
        await run_client(tmp_path / "nothere", [], {})


# -- verify_backup --------------------------------------------------------------------------------


async def test_verify_passes_a_good_backup(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    verification = await verify_backup(dump, bin_dir=tools_dir(tmp_path))
    assert verification.ok, verification.problems
    assert [check.name for check in verification.checks] == ["manifest", "checksum", "archive"]


async def test_verify_reports_a_tampered_file(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    dump.write_bytes(dump.read_bytes().replace(b"custom", b"CUSTOM"))
    verification = await verify_backup(dump, bin_dir=tools_dir(tmp_path))
    assert not verification.ok
    assert verification.problems[0].startswith("checksum: the file was changed or truncated")


async def test_verify_without_a_manifest_stops_there(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    files.manifest_path(dump).unlink()
    verification = await verify_backup(dump, bin_dir=tmp_path / "nothing-here")
    assert [(c.name, c.ok) for c in verification.checks] == [("manifest", False)]
    assert "cannot read the manifest" in verification.problems[0]


async def test_verify_reports_an_archive_that_pg_restore_rejects(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    bin_dir = tools_dir(tmp_path)
    executable(
        bin_dir / "pg_restore",
        'if [ "$1" = "--version" ]; then echo "pg_restore (PostgreSQL) 15.18"; exit 0; fi\n'
        'echo "pg_restore: error: input file does not appear to be a valid archive" >&2; exit 1\n',
    )
    verification = await verify_backup(dump, bin_dir=bin_dir)
    assert verification.problems == (
        "archive: pg_restore exited with code 1: pg_restore: error: input file does not appear "
        "to be a valid archive",
    )


async def test_restore_is_not_attempted_when_the_file_fails(tmp_path: Path) -> None:
    dump = backup_files(tmp_path)
    dump.write_bytes(b"other bytes")
    verification = await verify_backup(
        dump, bin_dir=tools_dir(tmp_path), restore_into="scratch", config=make_config(), password=PASSWORD
    )
    assert [(c.name, c.ok) for c in verification.checks][-1] == ("restore", False)
    assert "not attempted" in verification.checks[-1].detail


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("onex_production", "the service's own database"),
        ("host=elsewhere dbname=x", "not a connection string"),
        ("postgresql://u:p@h/db", "not a connection string"),
    ],
)
async def test_restore_target_is_refused_before_connecting(tmp_path: Path, target: str, reason: str) -> None:
    dump = backup_files(tmp_path)
    verification = await verify_backup(
        dump, bin_dir=tools_dir(tmp_path), restore_into=target, config=make_config(), password=PASSWORD
    )
    assert not verification.ok
    assert reason in verification.checks[-1].detail


def test_a_second_backup_in_the_same_second_is_refused(tmp_path: Path) -> None:
    created = FakeClock().now()
    first = files.prepare_dump_path(tmp_path / "new", "onex_production", "onex", created)
    assert first.parent.is_dir() and not first.exists()
    first.write_bytes(b"x")
    with pytest.raises(BackupError, match="already exists; refusing to overwrite"):
        files.prepare_dump_path(tmp_path / "new", "onex_production", "onex", created)


def test_an_unusable_backup_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BackupError, match=r"file/sub: cannot create the backup folder"):
        files.prepare_dump_path(blocker / "sub", "db", "onex", FakeClock().now())


def test_seal_renames_the_partial_file_and_discard_removes_it(tmp_path: Path) -> None:
    dump = tmp_path / "x.dump"
    files.partial_path(dump).write_bytes(b"abc")
    assert files.seal(dump) == (files.sha256_of(dump), 3)
    assert not files.partial_path(dump).exists()
    files.partial_path(dump).write_bytes(b"half")
    files.discard(dump)
    assert not files.partial_path(dump).exists()
