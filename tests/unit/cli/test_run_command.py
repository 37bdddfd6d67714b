"""``onex-infra run`` at startup: what it tells the operator about the environment before anything runs."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnibase_infra.cli.run_command import run_service
from omnibase_infra.environment import ENVIRONMENT_VARIABLES

REQUIRED = {
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
}


@pytest.fixture
def startup_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The service's variables without any environment variable; the root logger restored after."""
    for name in (*ENVIRONMENT_VARIABLES, "VAULT_ADDR", "ONEX_CONTRACTS_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _warnings(text: str) -> list[str]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [str(line["message"]) for line in lines if line["level"] == "WARNING"]


def _run(tmp_path: Path) -> int:
    # A contract path that does not exist stops startup (exit 3) right after the environment
    # is reported, so no server is contacted.
    return run_service(argparse.Namespace(contracts=[str(tmp_path / "missing.yaml")]))


def test_startup_warns_when_no_environment_variable_is_set(
    startup_log: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path) == 3
    (warning,) = _warnings(capsys.readouterr().err)
    assert warning.startswith("no environment is set (looked at " + ", ".join(ENVIRONMENT_VARIABLES))
    assert "running as development" in warning


def test_a_shell_start_up_file_in_env_is_ignored_with_a_warning(
    startup_log: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENV", "/root/.bashrc")
    monkeypatch.setenv("ONEX_ENV", "production")
    assert _run(tmp_path) == 3  # the missing contract, not the ENV value
    err = capsys.readouterr().err
    assert _warnings(err) == [
        "ENV='/root/.bashrc' looks like a file path (a POSIX shell sets ENV to its start-up file), "
        "not an environment name; it was ignored"
    ]
    assert "missing.yaml" in err


def test_a_named_environment_starts_without_a_warning(
    startup_log: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")
    assert _run(tmp_path) == 3
    assert _warnings(capsys.readouterr().err) == []


def test_a_refused_start_leaves_the_collector_thresholds_as_they_were(
    startup_log: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from omnibase_infra import settings
    from omnibase_infra.runtime import startup_gc

    seen: list[tuple[int, int, int]] = []
    real_load = settings.load_settings

    def load_settings_seeing_thresholds() -> settings.ModelInfraSettings:
        seen.append(gc.get_threshold())
        return real_load()

    monkeypatch.setattr(settings, "load_settings", load_settings_seeing_thresholds)
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert _run(tmp_path) == 3
        assert seen == [startup_gc.STARTUP_THRESHOLDS]  # relaxed while starting
        assert gc.get_threshold() == (700, 10, 10)  # and put back
    finally:
        gc.set_threshold(*before)
