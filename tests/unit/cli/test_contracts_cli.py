"""``onex-infra contracts check`` and ``nodes list`` as an operator runs them (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BROKEN = ROOT / "tests/unit/contract_corpus/cb_failure_threshold_above_maximum.yaml"
BIN = Path(sys.executable).parent / "onex-infra"


def _third_party_nodes() -> list[str]:
    """Installed ``onex.nodes`` classes from other distributions (scripts/setup installs the test
    package under tests/third_party): their contracts are checked and listed too."""
    return sorted(
        ep.name
        for ep in entry_points(group="onex.nodes")
        if ":" in ep.value and not ep.value.startswith("omnibase_infra.")
    )


THIRD = len(_third_party_nodes())


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ONEX_CONTRACTS_PATH"}
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, check=False)


def test_shipped_contracts_pass() -> None:
    result = _run("contracts", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(
        f"valid: {9 + THIRD} files, {8 + THIRD} nodes, 8 operations, 4 workflows"
    )


def test_json_report_of_the_shipped_contracts() -> None:
    result = _run("contracts", "check", "--json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["summary"]["nodes"] == 8 + THIRD
    assert all(f["problems"] == [] for f in report["files"])


def test_a_broken_file_fails_with_its_key_path() -> None:
    result = _run("contracts", "check", str(BROKEN))
    assert result.returncode == 1
    assert (
        "environment_config.circuit_breaker.production.failure_threshold: 21 is above the maximum 20"
        in result.stdout
    )
    assert result.stdout.splitlines()[-1].startswith(f"invalid: 1 problems in 1 of {10 + THIRD} files")


def test_a_broken_file_in_json() -> None:
    result = _run("contracts", "check", "--json", str(BROKEN))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    [bad] = [f for f in report["files"] if f["problems"]]
    assert bad["file"] == str(BROKEN)
    assert [(p["key_path"], p["stage"]) for p in bad["problems"]] == [
        ("environment_config.circuit_breaker.production.failure_threshold", "schema")
    ]


def test_environment_variable_adds_files() -> None:
    env = {**os.environ, "ONEX_CONTRACTS_PATH": str(BROKEN)}
    result = subprocess.run(
        [str(BIN), "contracts", "check"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 1


def test_script_wrapper_passes_arguments() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts/contract-check"), "--json"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and json.loads(result.stdout)["valid"] is True


def test_nodes_list() -> None:
    result = _run("nodes", "list", "--json")
    assert result.returncode == 0
    nodes = json.loads(result.stdout)["nodes"]
    shipped = [(n["name"], n["kind"]) for n in nodes if n["name"] not in _third_party_nodes()]
    assert sorted(n["name"] for n in nodes if n["name"] in _third_party_nodes()) == _third_party_nodes()
    assert shipped == [
        ("group_gateway", "ORCHESTRATOR"),
        ("infrastructure_orchestrator", "ORCHESTRATOR"),
        ("infrastructure_reducer", "REDUCER"),
        ("kafka_adapter", "EFFECT"),
        ("kafka_wrapper", "COMPUTE"),
        ("message_aggregator", "COMPUTE"),
        ("postgres_adapter", "EFFECT"),
        ("vault_adapter", "EFFECT"),
    ]
    table = _run("nodes", "list")
    assert table.returncode == 0 and "NodePostgresAdapterEffect" in table.stdout


def test_nodes_list_refuses_invalid_contracts() -> None:
    result = _run("nodes", "list", "--contracts", str(BROKEN))
    assert result.returncode == 1
    assert "failure_threshold" in result.stdout
