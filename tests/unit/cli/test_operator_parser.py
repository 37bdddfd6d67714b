"""The parser of the operator commands: flags, defaults, usage errors (exit 2), light --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from omnibase_infra.cli.dlq_records import OffsetSelection
from omnibase_infra.cli.main import build_parser

HEAVY = ("aiokafka", "opentelemetry.sdk", "omnibase_core.nodes", "asyncpg")


def parse(*argv: str) -> dict[str, object]:
    args = vars(build_parser().parse_args(list(argv)))
    args.pop("handler")
    return args


def test_env_check_defaults() -> None:
    assert parse("env", "check") == {
        "command": "env",
        "subcommand": "check",
        "verbose": False,
        "timeout": 5.0,
        "json": False,
    }


def test_health_and_breaker_share_url_timeout_and_json() -> None:
    health = parse("health", "--url", "http://h:1", "--timeout", "2.5", "--json")
    assert (health["url"], health["timeout"], health["json"]) == ("http://h:1", 2.5, True)
    reset = parse("breaker", "reset", "kafka", "--url", "http://h:1", "--json")
    assert (reset["name"], reset["url"], reset["timeout"], reset["json"]) == (
        "kafka",
        "http://h:1",
        5.0,
        True,
    )


def test_dlq_list_defaults() -> None:
    args = parse("dlq", "list", "onex.evt.a.b.v1")
    assert (args["topic"], args["limit"], args["partition"], args["timeout"], args["json"]) == (
        "onex.evt.a.b.v1",
        50,
        None,
        10.0,
        False,
    )


def test_dlq_replay_parses_offsets_lazily() -> None:
    args = parse("dlq", "replay", "T", "--offsets", "3,5-9,1:7", "--stage", "decode", "--dry-run")
    selection = args["offsets"]
    assert isinstance(selection, OffsetSelection)
    assert selection.ranges == {None: ((3, 3), (5, 9)), 1: ((7, 7),)}
    assert (args["all"], args["stage"], args["dry_run"]) == (False, "decode", True)


def test_outbox_status_limit() -> None:
    assert parse("outbox", "status", "--limit", "3")["limit"] == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["dlq", "replay", "T"],  # neither --offsets nor --all
        ["dlq", "replay", "T", "--all", "--offsets", "1"],
        ["dlq", "replay", "T", "--offsets", "x"],
        ["dlq", "replay", "T", "--offsets", "9-3"],
        ["dlq", "list", "T", "--limit", "0"],
        ["health", "--timeout", "-1"],
        ["env", "check", "--timeout", "soon"],
        ["breaker", "reset"],
        ["outbox"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(argv)
    assert raised.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["env", "check", "--help"],
        ["health", "--help"],
        ["dlq", "replay", "--help"],
        ["outbox", "status", "--help"],
        ["breaker", "reset", "--help"],
    ],
)
def test_subcommand_help_stays_light(argv: list[str]) -> None:
    code = (
        "import contextlib, io, sys\n"
        "from omnibase_infra.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
