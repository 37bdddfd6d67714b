"""``db backup``, ``db verify-backup``, ``db migrate --backup``: parsing and exit codes without a server.

verify-backup reads no server unless ``--restore-into`` is given, so its exit codes are checked
here with stand-in client programs (tests/backup_fakes.py);
the real programs and server are in tests/integration/cli/test_cli_db_backup.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backup_fakes import backup_files, tools_dir

from omnibase_infra.cli.main import build_parser, main


def parse(*argv: str) -> dict[str, object]:
    args = vars(build_parser().parse_args(list(argv)))
    args.pop("handler")
    return args


def test_backup_defaults_to_the_current_folder() -> None:
    assert parse("db", "backup") == {
        "command": "db",
        "subcommand": "backup",
        "output": ".",
        "pg_bin": None,
        "json": False,
    }
    assert parse("db", "backup", "--output", "/b", "--pg-bin", "/pg", "--json")["output"] == "/b"


def test_verify_backup_takes_a_file_and_an_optional_restore_target() -> None:
    args = parse("db", "verify-backup", "x.dump", "--restore-into", "scratch")
    assert (args["file"], args["restore_into"], args["pg_bin"]) == ("x.dump", "scratch", None)
    assert parse("db", "verify-backup", "x.dump")["restore_into"] is None


def test_migrate_backup_is_off_unless_asked_and_defaults_to_the_current_folder() -> None:
    assert parse("db", "migrate")["backup"] is None
    assert parse("db", "migrate", "--backup")["backup"] == "."
    assert parse("db", "migrate", "--backup", "/b", "--pg-bin", "/pg")["backup"] == "/b"


def test_verify_backup_needs_a_file() -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["db", "verify-backup"])
    assert raised.value.code == 2


def test_verify_backup_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = backup_files(tmp_path)
    bin_dir = str(tools_dir(tmp_path))
    assert main(["db", "verify-backup", str(dump), "--pg-bin", bin_dir]) == 0
    assert "verify-backup: every check passed" in capsys.readouterr().out

    dump.write_bytes(b"tampered")
    assert main(["db", "verify-backup", str(dump), "--pg-bin", bin_dir, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("manifest", True),
        ("checksum", False),
        ("archive", True),
    ]


def test_verify_backup_without_pg_restore_exits_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = backup_files(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["db", "verify-backup", str(dump), "--pg-bin", str(empty)]) == 1
    err = capsys.readouterr().err
    assert "cannot verify the backup: pg_dump of PostgreSQL 15 (the server's release) not found" in err


def test_restore_without_postgres_variables_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("POSTGRES_HOST", "POSTGRES_DATABASE", "POSTGRES_USER", "POSTGRES_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    dump = backup_files(tmp_path)
    code = main(["db", "verify-backup", str(dump), "--restore-into", "scratch", "--pg-bin", str(tmp_path)])
    assert code == 3
    assert "configuration error: POSTGRES_HOST" in capsys.readouterr().err
