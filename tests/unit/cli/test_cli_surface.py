"""The command line as an operator meets it: every page described, the real DLQ stages, one version,
and ``python -m omnibase_infra`` equal to ``onex-infra``."""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import omnibase_infra
from omnibase_infra.cli.main import build_parser
from omnibase_infra.workflow import dlq_stages

SRC = Path(omnibase_infra.__file__).resolve().parent
PYPROJECT = SRC.parents[1] / "pyproject.toml"


def _subparsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str | None, argparse.ArgumentParser]]:
    """Every subcommand below ``parser``: its path, its summary in the parent's list, its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), summaries.get(name), sub
                yield from _subparsers(sub, (*path, name))


ALL = list(_subparsers(build_parser()))


def test_the_walk_finds_the_command_tree() -> None:
    paths = {" ".join(path) for path, _, _ in ALL}
    assert {"run", "db migrate", "dlq replay", "env check", "breaker reset", "contracts check"} <= paths
    assert len(paths) == len(ALL)


@pytest.mark.parametrize(("path", "summary", "parser"), ALL, ids=[" ".join(p) for p, _, _ in ALL])
def test_every_subcommand_has_a_summary_and_a_description(
    path: tuple[str, ...], summary: str | None, parser: argparse.ArgumentParser
) -> None:
    assert summary, f"'{' '.join(path)}' has no line in its parent's --help"
    assert parser.description, f"'{' '.join(path)}' --help has no description"
    # The page says more than the one-line summary it opens with.
    assert len(parser.description) > len(summary) + 20
    assert " ".join(parser.description.split()) in " ".join(parser.format_help().split())


def test_stage_help_names_the_stages_the_runtime_writes() -> None:
    (replay,) = [p for path, _, p in ALL if path == ("dlq", "replay")]
    (stage,) = [a for a in replay._actions if "--stage" in a.option_strings]
    assert stage.help == "only records that failed at STAGE: " + ", ".join(dlq_stages.DLQ_STAGES)


def test_the_stage_list_is_every_stage_constant() -> None:
    constants = {
        value
        for name, value in vars(dlq_stages).items()
        if name.startswith("STAGE_") and isinstance(value, str)
    }
    assert set(dlq_stages.DLQ_STAGES) == constants
    assert len(dlq_stages.DLQ_STAGES) == len(constants)


# The outbox relay's poison marks a row ``dead_letter`` in onex_outbox; it never reaches a
# DLQ topic, so its stage is not one ``dlq replay --stage`` can select.
NOT_DLQ_STAGES = frozenset({"dlq_stages.py", "outbox_operations.py"})


def _runtime_trees() -> Iterator[ast.Module]:
    for path in sorted([*(SRC / "runtime").glob("*.py"), *(SRC / "nodes").rglob("*.py")]):
        if path.name not in NOT_DLQ_STAGES:
            yield ast.parse(path.read_text(), str(path))


def test_the_runtime_raises_poison_only_with_listed_stages() -> None:
    first_arguments = [
        ast.unparse(node.args[0])
        for tree in _runtime_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "PoisonRecordError"
    ]
    assert first_arguments, "no PoisonRecordError found in the runtime"
    # envelope_codec picks STAGE_DECODE or STAGE_VALIDATE into a local ``stage`` first.
    assert all(arg.startswith("STAGE_") or arg == "stage" for arg in first_arguments), first_arguments


def test_every_listed_stage_is_used_by_the_runtime() -> None:
    imported = {
        alias.name
        for tree in _runtime_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "omnibase_infra.workflow.dlq_stages"
        for alias in node.names
    }
    assert {getattr(dlq_stages, name) for name in imported} == set(dlq_stages.DLQ_STAGES)


def test_the_version_is_the_installed_distributions() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert omnibase_infra.__version__ == importlib.metadata.version("omnibase_infra") == declared


def test_no_module_writes_the_version_itself() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    writers = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if f'"{declared}"' in path.read_text() or f"'{declared}'" in path.read_text()
    ]
    assert writers == []


def test_python_dash_m_is_onex_infra() -> None:
    module = subprocess.run(
        [sys.executable, "-m", "omnibase_infra", "--version"], capture_output=True, text=True, check=True
    )
    assert module.stdout.strip() == f"onex-infra {importlib.metadata.version('omnibase_infra')}"
    usage = subprocess.run(
        [sys.executable, "-m", "omnibase_infra", "dlq"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    assert "onex-infra dlq: error: the following arguments are required: SUBCOMMAND" in usage.stderr
