"""``scripts/setup`` decides from ``.venv/.installed-hash`` whether pip runs.

The script runs in a scratch copy of the repository whose ``.venv/bin/python`` is a wrapper around
this interpreter: everything passes through except ``-m pip``, which records its arguments and
succeeds without installing anything. So each test sees exactly whether, and how, pip was called.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup", tmp_path / "scripts" / "setup")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "requirements-dev.lock").write_text("pydantic==2.0 --hash=sha256:00\n")
    node = tmp_path / "tests" / "third_party" / "onex_test_node"
    node.mkdir(parents=True)
    (node / "pyproject.toml").write_text('[project]\nname = "onex-test-node"\n')
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"
    python.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$1" == -m && "$2" == pip ]]; then\n'
        f'    printf "%s\\n" "${{*:3}}" >>"{tmp_path}/pip-calls"\n'
        "    exit 0\n"
        "fi\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    return tmp_path


def setup(checkout: Path, *args: str) -> str:
    result = subprocess.run(
        ["bash", str(checkout / "scripts" / "setup"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def pip_calls(checkout: Path) -> list[str]:
    calls = checkout / "pip-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_a_plain_setup_after_a_locked_one_keeps_the_locked_install(checkout: Path) -> None:
    setup(checkout, "--locked")
    locked_calls = pip_calls(checkout)
    assert any("--require-hashes" in call for call in locked_calls), locked_calls

    log = setup(checkout)

    assert pip_calls(checkout) == locked_calls
    assert "holds the locked install of this pyproject.toml; skipping pip" in log


def test_a_locked_setup_after_a_plain_one_installs_the_lock(checkout: Path) -> None:
    setup(checkout)
    assert any(".[dev]" in call for call in pip_calls(checkout))

    setup(checkout, "--locked")

    assert any("--require-hashes" in call for call in pip_calls(checkout))


def test_a_changed_lock_or_pyproject_reinstalls(checkout: Path) -> None:
    setup(checkout, "--locked")
    assert "skipping pip" in setup(checkout, "--locked")
    count = len(pip_calls(checkout))

    (checkout / "requirements-dev.lock").write_text("pydantic==2.1 --hash=sha256:11\n")
    setup(checkout, "--locked")
    assert len(pip_calls(checkout)) > count
    count = len(pip_calls(checkout))

    with (checkout / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# changed\n")
    setup(checkout)
    assert any(".[dev]" in call for call in pip_calls(checkout)[count:])


def test_a_hash_file_of_the_old_one_line_form_reinstalls(checkout: Path) -> None:
    """The old form was one line, the hash of exactly what the new form calls ``base``: even
    that value, written the old way, is not taken for an install of either kind."""
    setup(checkout)
    hash_file = checkout / ".venv" / ".installed-hash"
    base = hash_file.read_text().splitlines()[0].split()[1]
    hash_file.write_text(base + "\n")
    calls = len(pip_calls(checkout))

    setup(checkout)

    assert any(".[dev]" in call for call in pip_calls(checkout)[calls:])
