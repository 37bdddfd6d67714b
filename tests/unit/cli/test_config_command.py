"""``config show``, and ``run`` / ``contracts check`` with ``--config``: output, sources, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnibase_infra.cli.main import main

OVERLAY = "postgres_adapter:\n  production:\n    postgres_pool.max_connections: 40\n"
BAD_OVERLAY = "postgres_adapter:\n  production:\n    postgres_pool.max_connections: 900\n"
SERVER_ENV = {
    "POSTGRES_HOST": "db.example",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "ENV", "DEPLOYMENT_ENV", "NODE_ENV", "OMNIBASE_ENV", "ONEX_ENV"):
        monkeypatch.delenv(name, raising=False)
    for name in ("ONEX_CONFIG_FILE", "ONEX_CONTRACTS_PATH", "ONEX_BATCH_SIZE", "POSTGRES_MAX_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overlay.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _rows(out: str) -> dict[str, dict[str, object]]:
    document = json.loads(out)
    return {f"{v['node']}.{v['section']}.{v['key']}": v for v in document["values"]}


def test_show_json_lists_every_value_with_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, OVERLAY)
    monkeypatch.setenv("ONEX_BATCH_SIZE", "700")
    assert main(["config", "show", "--environment", "prod", "--config", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["environment"] == "production"
    rows = _rows(out)
    assert rows["postgres_adapter.postgres_pool.max_connections"] == {
        "node": "postgres_adapter",
        "section": "postgres_pool",
        "key": "max_connections",
        "value": 40,
        "source": "overlay",
        "origin": f"{path}:3",
    }
    assert rows["message_aggregator.batching.batch_size"]["source"] == "environment variable"
    assert rows["message_aggregator.batching.batch_size"]["value"] == 700
    assert rows["postgres_adapter.postgres_pool.min_connections"]["source"] == "contract"
    assert rows["postgres_adapter.circuit_breaker.half_open_max_calls"]["source"] == "default"
    assert "postgres_adapter.circuit_breaker.max_queue_size" not in rows  # the postgres breaker has none


def test_show_follows_the_detected_environment_and_onex_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, OVERLAY)
    monkeypatch.setenv("ONEX_CONFIG_FILE", str(path))
    monkeypatch.setenv("ENVIRONMENT", "staging")
    assert main(["config", "show", "--json"]) == 0
    staging = _rows(capsys.readouterr().out)["postgres_adapter.postgres_pool.max_connections"]
    assert (staging["value"], staging["source"]) == (20, "contract")
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert main(["config", "show"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("environment: production\n")
    line = next(
        row for row in text.splitlines() if row.startswith("postgres_adapter.postgres_pool.max_connections")
    )
    assert line.split()[1:] == ["40", "overlay", f"{path}:3"]


def test_show_refuses_a_bad_overlay_with_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, BAD_OVERLAY)
    assert main(["config", "show", "--config", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"{path}:3: postgres_adapter.production.postgres_pool.max_connections:" in err
    assert "allowed: 1 to 500" in err


def test_show_refuses_an_unknown_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--environment", "qa"]) == 3
    assert "--environment" in capsys.readouterr().err


def test_run_refuses_to_start_with_a_bad_overlay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SERVER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ENVIRONMENT", "production")
    path = _file(tmp_path, BAD_OVERLAY)
    assert main(["run", "--config", str(path)]) == 3
    err = capsys.readouterr().err
    assert "refusing to start: invalid configuration overlay:" in err
    assert f"{path}:3: postgres_adapter.production.postgres_pool.max_connections:" in err


def test_run_refuses_to_start_with_a_bad_tuning_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SERVER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ONEX_BATCH_SIZE", "20000")
    assert main(["run"]) == 3
    err = capsys.readouterr().err
    assert "ONEX_BATCH_SIZE" in err and "allowed: 1 to 10000" in err


def test_contracts_check_checks_the_overlay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _file(tmp_path, OVERLAY)
    assert main(["contracts", "check", "--config", str(good)]) == 0
    assert f"valid: configuration overlay {good}" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_OVERLAY.replace("production", "staging"), encoding="utf-8")
    assert main(["contracts", "check", "--config", str(bad)]) == 1
    assert "postgres_adapter.staging.postgres_pool.max_connections" in capsys.readouterr().err


def test_nodes_list_checks_the_overlay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _file(tmp_path, OVERLAY)
    assert main(["nodes", "list", "--config", str(good)]) == 0
    assert "postgres_adapter" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("redis_adapter:\n  production:\n    pool.size: 4\n", encoding="utf-8")
    assert main(["nodes", "list", "--config", str(bad)]) == 1
    assert "no node contract 'redis_adapter'" in capsys.readouterr().err
