"""Third-party nodes: an ``onex.nodes`` entry point outside omnibase_infra brings its contract along.

The node packages are written to a temporary folder and announced by a fake entry point
(``third_party``); ``nodes_root`` points at an empty folder where a test needs no shipped
contract, so each test sees only what it wrote.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path

from omnibase_infra.contract_validation.discovery import installed_nodes, module_folder
from omnibase_infra.contract_validation.loader import check_contracts, load_contract_set

from .conftest import Installer
from .third_party import RELAY_NODE

ORDERS_OUTBOX = """\
kind: composition
name: orders_outbox
contract_version: {major: 1, minor: 0, patch: 0}
description: the orders application relays its outbox through its own node
workflows:
  - name: orders_outbox
    trigger: repeat
    description: relay the orders rows
    steps:
      - {id: publish, node: acme_relay, operation: relay, publishes: [onex.evt.orders.order-placed.v1]}
"""


def _composition(tmp_path: Path, text: str = ORDERS_OUTBOX) -> Path:
    path = tmp_path / "orders_outbox.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _no_shipped(tmp_path: Path) -> Path:
    empty = tmp_path / "no_shipped_nodes"
    empty.mkdir()
    return empty


def test_the_contract_beside_a_third_party_module_joins_the_set(tmp_path: Path, install: Installer) -> None:
    node = install(RELAY_NODE)
    report, contracts = check_contracts(
        [_composition(tmp_path)],
        nodes_root=_no_shipped(tmp_path),
        entry_points=node.entry_points,
        check_classes=False,
    )
    assert report.valid, [p.render() for p in report.problems]
    assert contracts is not None
    relay = contracts.node("acme_relay")
    assert relay.origin == "entry_point"
    assert Path(relay.path) == node.contract
    written = [f for f in report.files if f.kind == "node" and f.file.startswith(str(tmp_path))]
    assert [(f.file, f.origin) for f in written] == [(str(node.contract), "entry_point")]
    assert contracts.workflow("orders_outbox").steps[0].node == "acme_relay"


def test_a_third_party_contract_is_validated_like_ours(tmp_path: Path, install: Installer) -> None:
    broken = replace(RELAY_NODE, contract=RELAY_NODE.contract + "retries: 3\n")
    node = install(broken)
    report, contracts = check_contracts(
        [], nodes_root=_no_shipped(tmp_path), entry_points=node.entry_points, check_classes=False
    )
    assert contracts is None
    assert [(p.file, p.key_path) for p in report.problems] == [(str(node.contract), "retries")]
    assert report.files[0].origin == "entry_point"


def test_a_step_naming_an_installed_node_without_contract_says_why(
    tmp_path: Path, install: Installer
) -> None:
    node = install(RELAY_NODE, with_contract=False)
    path = _composition(tmp_path)
    report, _ = check_contracts(
        [path], nodes_root=_no_shipped(tmp_path), entry_points=node.entry_points, check_classes=False
    )
    assert [(p.key_path, p.reason) for p in report.problems] == [
        (
            "workflows[0].steps[0].node",
            "node 'acme_relay' is installed (acme_nodes.acme_relay.node:NodeAcmeRelay) but has no contract: "
            f"no contract.yaml beside module acme_nodes.acme_relay.node ({node.folder})",
        )
    ]


def test_a_step_naming_a_node_with_a_contract_but_no_entry_point_is_not_installed(tmp_path: Path) -> None:
    contract = tmp_path / "acme_relay.yaml"
    contract.write_text(RELAY_NODE.contract, encoding="utf-8")
    path = _composition(tmp_path)
    report, _ = check_contracts(
        [contract, path], nodes_root=_no_shipped(tmp_path), entry_points=(), check_classes=False
    )
    assert [(p.file, p.key_path, p.reason) for p in report.problems] == [
        (
            str(path),
            "workflows[0].steps[0].node",
            "node 'acme_relay' has a contract but no onex.nodes entry point: not installed",
        )
    ]


def test_a_step_naming_neither_contract_nor_entry_point(tmp_path: Path) -> None:
    path = _composition(tmp_path)
    report, _ = check_contracts(
        [path], nodes_root=_no_shipped(tmp_path), entry_points=(), check_classes=False
    )
    assert [(p.key_path, p.reason) for p in report.problems] == [
        (
            "workflows[0].steps[0].node",
            "no node named 'acme_relay' (not installed: no onex.nodes entry point and no contract)",
        )
    ]


def test_entry_points_that_name_no_class_or_are_ours_contribute_nothing(tmp_path: Path) -> None:
    found = installed_nodes(
        [
            EntryPoint("core_check", "omnibase_core.nodes.node_no_utcnow_check_compute", "onex.nodes"),
            EntryPoint("gone", "acme_gone.node:NodeGone", "onex.nodes"),
            EntryPoint("kafka_adapter", "omnibase_infra.nodes.kafka_adapter.v1_0_0.node:X", "onex.nodes"),
        ]
    )
    assert found["core_check"].why_no_contract == "its entry point names no class"
    assert found["gone"].why_no_contract == "module acme_gone.node cannot be found"
    assert found["kafka_adapter"].ours and found["kafka_adapter"].contract is None
    assert all(n.contract is None for n in found.values())


def test_the_module_is_located_without_running_it_or_its_packages(tmp_path: Path, install: Installer) -> None:
    node = install(RELAY_NODE)
    (node.folder.parent / "__init__.py").write_text("raise RuntimeError('imported')\n", encoding="utf-8")
    assert module_folder("acme_nodes.acme_relay.node") == node.folder.resolve()
    assert "acme_nodes" not in sys.modules
    assert module_folder("acme_nodes.acme_relay.missing") is None


def test_shipped_nodes_count_as_installed() -> None:
    contracts = load_contract_set(validate_core=False, entry_points=())
    assert contracts.node("kafka_adapter").origin == "shipped"
