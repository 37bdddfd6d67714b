"""The registry: by name and version, highest version by default, classes imported only on request."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points

import pytest

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.registry.entry_points import discover_nodes
from omnibase_infra.registry.model_node_registration import ModelNodeRegistration
from omnibase_infra.registry.node_registry import DuplicateNodeError, NodeRegistry

EXPECTED_CLASSES = {
    "postgres_adapter": "NodePostgresAdapterEffect",
    "kafka_adapter": "NodeKafkaAdapterEffect",
    "message_aggregator": "NodeMessageAggregatorCompute",
    "infrastructure_reducer": "NodeInfrastructureReducer",
    "infrastructure_orchestrator": "NodeInfrastructureOrchestrator",
    "vault_adapter": "NodeVaultAdapterEffect",
    "kafka_wrapper": "NodeKafkaWrapperCompute",
    "group_gateway": "NodeGroupGateway",
}


def _registration(name: str, version: str, entry_point: str = "pkg.mod:Node") -> ModelNodeRegistration:
    return ModelNodeRegistration(
        name=name, version=version, kind="COMPUTE", entry_point=entry_point, contract_path="/x/contract.yaml"
    )


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contract_set(validate_core=False)


def test_lookup_by_name_and_version() -> None:
    registry = NodeRegistry(
        [_registration("a", "1.2.0"), _registration("a", "1.10.0"), _registration("b", "2.0.0")]
    )
    assert registry.get("a").version == "1.10.0"
    assert registry.get("a", "1.2.0").version == "1.2.0"
    assert registry.find("a", "3.0.0") is None
    assert "b" in registry and "c" not in registry
    assert [(r.name, r.version) for r in registry.list()] == [("a", "1.2.0"), ("a", "1.10.0"), ("b", "2.0.0")]
    with pytest.raises(KeyError):
        registry.get("c")


def test_a_name_and_version_registers_once() -> None:
    registry = NodeRegistry([_registration("a", "1.0.0")])
    with pytest.raises(DuplicateNodeError, match=r"a 1\.0\.0"):
        registry.register(_registration("a", "1.0.0", "other.mod:Node"))


def test_the_package_entry_points_are_declared() -> None:
    ours = {
        ep.name: ep.value for ep in entry_points(group="onex.nodes") if ep.value.startswith("omnibase_infra.")
    }
    assert {name: value.rpartition(":")[2] for name, value in ours.items()} == EXPECTED_CLASSES


def test_entry_points_with_contracts_are_registered(contracts: ContractSet) -> None:
    discovered = discover_nodes(contracts)
    registry = discovered.registry
    ours = [r for r in registry.list() if r.entry_point.startswith("omnibase_infra.")]  # not third-party ones
    assert {r.name: r.entry_point.rpartition(":")[2] for r in ours} == EXPECTED_CLASSES
    assert registry.get("message_aggregator").kind == "COMPUTE"
    assert registry.get("postgres_adapter").contract_path == contracts.node("postgres_adapter").path
    assert all(s.reason == "no contract" for s in discovered.skipped)


def test_an_entry_point_away_from_its_contract_is_skipped(contracts: ContractSet) -> None:
    stray = EntryPoint(name="kafka_adapter", value="json.decoder:JSONDecoder", group="onex.nodes")
    discovered = discover_nodes(contracts, found=(stray,))
    assert len(discovered.registry) == 0
    assert discovered.skipped[0].reason.startswith("module is not beside its contract")


def test_discovery_does_not_import_node_classes() -> None:
    code = (
        "import sys\n"
        "from omnibase_infra.contract_validation.loader import load_contract_set\n"
        "from omnibase_infra.registry.entry_points import discover_nodes\n"
        "discover_nodes(load_contract_set(validate_core=False))\n"
        "loaded = [m for m in sys.modules\n"
        "          if m.endswith('.node') or m.startswith('omnibase_core.nodes.node_')]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_load_class_imports_the_node(contracts: ContractSet) -> None:
    registry = discover_nodes(contracts).registry
    node_class = registry.load_class("infrastructure_reducer")
    assert node_class.__name__ == "NodeInfrastructureReducer"
