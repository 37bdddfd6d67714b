"""Contracts against node classes: the ``@operation`` a step names exists with the contract's payload
classes, and a capability without input names a public method of the class.

The classes come from a fake registry (``NodeClassSource``), or, in one test, from a
third-party package through its (fake) ``onex.nodes`` entry point and the real registry.
No shipped contract takes part (``nodes_root`` is an empty folder) but in the last test,
which checks the shipped contracts against the shipped classes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from omnibase_infra.contract_validation.class_checks import check_step_operations_against_classes
from omnibase_infra.contract_validation.loader import check_contracts, load_contract_set
from omnibase_infra.errors import ContractError
from omnibase_infra.workflow.operations import SAME, StepContext, operation
from omnibase_infra.workflow.payloads import ConsumedBatch, EventBatch, Tick

from .conftest import Installer
from .test_third_party_nodes import ORDERS_OUTBOX
from .third_party import RELAY_NODE


class FakeRegistry:
    """Node classes by name; a registered exception is raised by ``load_class``."""

    def __init__(self, classes: dict[str, type[object] | Exception]) -> None:
        self.classes = classes

    def load_class(self, name: str, version: str | None = None) -> type[object]:
        found = self.classes[name]
        if isinstance(found, Exception):
            raise found
        return found


class RelayAsContracted:
    @operation(input=Tick, output=SAME)
    async def relay(self, payload: Tick, step: StepContext) -> Tick:
        return payload


class RelayInherited(RelayAsContracted):
    """Inherited operations count."""


class RelayWithoutOperations:
    async def relay(self, payload: Tick, step: StepContext) -> Tick:
        return payload


class RelayTakingBatches:
    @operation(input=ConsumedBatch, output=SAME)
    async def relay(self, payload: ConsumedBatch, step: StepContext) -> ConsumedBatch:
        return payload


class RelayReturningEvents:
    @operation(input=Tick, output=EventBatch)
    async def relay(self, payload: Tick, step: StepContext) -> EventBatch:
        return EventBatch({})


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    """An extra acme_relay contract (its entry point is faked below) and a workflow using it."""
    contract = tmp_path / "acme_relay.yaml"
    contract.write_text(RELAY_NODE.contract, encoding="utf-8")
    composition = tmp_path / "orders_outbox.yaml"
    composition.write_text(ORDERS_OUTBOX, encoding="utf-8")
    return [contract, composition]


@pytest.fixture
def no_shipped(tmp_path: Path) -> Path:
    empty = tmp_path / "no_shipped_nodes"
    empty.mkdir()
    return empty


def _check(
    files: list[Path], no_shipped: Path, node_class: type[object] | Exception
) -> list[tuple[str, str, str]]:
    from importlib.metadata import EntryPoint

    point = EntryPoint("acme_relay", "acme_fake.node:NodeAcmeRelay", "onex.nodes")
    report, contracts = check_contracts(
        files,
        nodes_root=no_shipped,
        entry_points=(point,),
        validate_core=False,
        check_classes=True,
        registry=FakeRegistry({"acme_relay": node_class}),
    )
    assert report.class_validation
    assert (contracts is None) == (not report.valid)
    assert all(p.stage == "class" and p.line is not None for p in report.problems)
    return [(Path(p.file).name, p.key_path, p.reason) for p in report.problems]


@pytest.mark.parametrize("node_class", [RelayAsContracted, RelayInherited])
def test_an_operation_as_contracted_passes(
    files: list[Path], no_shipped: Path, node_class: type[object]
) -> None:
    assert _check(files, no_shipped, node_class) == []


def test_a_class_without_the_operation_fails_at_the_step(files: list[Path], no_shipped: Path) -> None:
    assert _check(files, no_shipped, RelayWithoutOperations) == [
        (
            "orders_outbox.yaml",
            "workflows[0].steps[0].operation",
            "RelayWithoutOperations (node acme_relay) has no @operation 'relay' (its operations: none)",
        )
    ]


def test_an_input_class_other_than_the_contracts_fails_at_the_capability(
    files: list[Path], no_shipped: Path
) -> None:
    assert _check(files, no_shipped, RelayTakingBatches) == [
        (
            "acme_relay.yaml",
            "capabilities[0].input",
            "acme_relay.relay takes Tick in the contract but RelayTakingBatches.relay takes ConsumedBatch",
        )
    ]


def test_an_output_class_where_the_contract_says_same_fails(files: list[Path], no_shipped: Path) -> None:
    assert _check(files, no_shipped, RelayReturningEvents) == [
        (
            "acme_relay.yaml",
            "capabilities[0].output",
            "acme_relay.relay returns same in the contract but RelayReturningEvents.relay returns EventBatch",
        )
    ]


def test_same_where_the_contract_names_a_class_fails(files: list[Path], no_shipped: Path) -> None:
    text = (
        files[0]
        .read_text(encoding="utf-8")
        .replace(
            "    output: same\n    topic_use: relay",
            "    output: omnibase_infra.workflow.payloads.Tick\n    topic_use: relay",
        )
    )
    files[0].write_text(text, encoding="utf-8")
    assert _check(files, no_shipped, RelayAsContracted) == [
        (
            "acme_relay.yaml",
            "capabilities[0].output",
            "acme_relay.relay returns omnibase_infra.workflow.payloads.Tick in the contract "
            "but RelayAsContracted.relay returns same",
        )
    ]


def test_a_node_without_a_class_fails_at_the_step(files: list[Path], no_shipped: Path) -> None:
    assert _check(files, no_shipped, KeyError("acme_relay")) == [
        (
            "orders_outbox.yaml",
            "workflows[0].steps[0].node",
            "node acme_relay 1.0.0 has no registered class "
            "(no onex.nodes entry point whose module is beside its contract)",
        )
    ]


def test_a_class_that_cannot_be_imported_fails_at_the_step(files: list[Path], no_shipped: Path) -> None:
    assert _check(files, no_shipped, ImportError("no module named acme_fake")) == [
        (
            "orders_outbox.yaml",
            "workflows[0].steps[0].node",
            "cannot load the class of node acme_relay: ImportError: no module named acme_fake",
        )
    ]


def test_startup_raises_with_the_class_problems(files: list[Path], no_shipped: Path) -> None:
    from importlib.metadata import EntryPoint

    point = EntryPoint("acme_relay", "acme_fake.node:NodeAcmeRelay", "onex.nodes")
    with pytest.raises(ContractError, match=r"has no @operation 'relay'"):
        load_contract_set(
            files,
            validate_core=False,
            check_classes=True,
            entry_points=(point,),
            registry=FakeRegistry({"acme_relay": RelayWithoutOperations}),
        )


def test_the_check_is_a_function_of_the_contract_set(files: list[Path], no_shipped: Path) -> None:
    from importlib.metadata import EntryPoint

    point = EntryPoint("acme_relay", "acme_fake.node:NodeAcmeRelay", "onex.nodes")
    report, contracts = check_contracts(
        files, nodes_root=no_shipped, entry_points=(point,), check_classes=False
    )
    assert contracts is not None and not report.class_validation
    problems = check_step_operations_against_classes(
        contracts, FakeRegistry({"acme_relay": RelayTakingBatches})
    )
    assert [(p.key_path, p.stage, p.line) for p in problems] == [("capabilities[0].input", "class", None)]
    assert (
        check_step_operations_against_classes(contracts, FakeRegistry({"acme_relay": RelayAsContracted}))
        == []
    )


def test_the_registry_loads_a_third_party_class_through_its_entry_point(
    tmp_path: Path, install: Installer, no_shipped: Path
) -> None:
    composition = tmp_path / "orders_outbox.yaml"
    composition.write_text(ORDERS_OUTBOX, encoding="utf-8")
    node = install(RELAY_NODE)
    report, contracts = check_contracts(
        [composition],
        nodes_root=no_shipped,
        entry_points=node.entry_points,
        validate_core=False,
        check_classes=True,
    )
    assert report.valid and report.class_validation, [p.render() for p in report.problems]
    broken = replace(
        RELAY_NODE, package="acme_broken", source=RELAY_NODE.source.replace("def relay", "def relay_")
    )
    node = install(broken)
    report, contracts = check_contracts(
        [composition],
        nodes_root=no_shipped,
        entry_points=(node.entry_point,),
        validate_core=False,
        check_classes=True,
    )
    assert contracts is None
    assert [p.reason for p in report.problems] == [
        "NodeAcmeRelay (node acme_relay) has no @operation 'relay' (its operations: publish_state, relay_)"
    ]


# -- a capability without input names a public method of the node class ---------------------


class RelayWithFlush(RelayAsContracted):
    async def flush(self) -> None:
        """What the contract's ``flush`` capability (no input) describes."""

    @staticmethod
    def pending() -> int:
        return 0


class RelayWithPrivateFlush(RelayAsContracted):
    async def _flush(self) -> None:
        pass


class RelayWithFlushProperty(RelayAsContracted):
    @property
    def flush(self) -> bool:
        return True


class RelayWithFlushOperation(RelayAsContracted):
    @operation(input=Tick, output=SAME)
    async def flush(self, payload: Tick, step: StepContext) -> Tick:
        return payload


def _with_capability(files: list[Path], name: str) -> None:
    """Give acme_relay a third capability, ``name``, without input (capabilities[2])."""
    contract = files[0]
    text = contract.read_text(encoding="utf-8")
    contract.write_text(
        text + f"  - name: {name}\n    description: a method of the node on its own\n", encoding="utf-8"
    )


@pytest.mark.parametrize("name", ["flush", "pending"])
def test_a_capability_without_input_naming_a_public_method_passes(
    files: list[Path], no_shipped: Path, name: str
) -> None:
    _with_capability(files, name)
    assert _check(files, no_shipped, RelayWithFlush) == []


NO_FLUSH = (
    "acme_relay.yaml",
    "capabilities[2].name",
    "node acme_relay has no method 'flush' (a capability without input names a method of the node class)",
)


@pytest.mark.parametrize("node_class", [RelayAsContracted, RelayWithPrivateFlush, RelayWithFlushProperty])
def test_a_capability_without_input_naming_no_public_method_fails_at_its_name(
    files: list[Path], no_shipped: Path, node_class: type[object]
) -> None:
    _with_capability(files, "flush")
    assert _check(files, no_shipped, node_class) == [NO_FLUSH]


def test_private_methods_and_properties_are_no_public_methods() -> None:
    # A contract's names cannot start with "_" (the schema): this is the class side alone.
    from omnibase_infra.contract_validation.class_checks import _public_method

    assert _public_method(RelayWithFlush, "flush")
    assert not _public_method(RelayWithPrivateFlush, "_flush")
    assert not _public_method(RelayWithFlushProperty, "flush")


def test_a_capability_without_input_naming_an_operation_fails(files: list[Path], no_shipped: Path) -> None:
    _with_capability(files, "flush")
    assert _check(files, no_shipped, RelayWithFlushOperation) == [
        (
            "acme_relay.yaml",
            "capabilities[2].name",
            "node acme_relay: RelayWithFlushOperation.flush is an @operation "
            "(a step operation: its capability declares its input and output)",
        )
    ]


def test_a_node_no_step_names_is_checked_too(files: list[Path], no_shipped: Path) -> None:
    _with_capability(files, "flush")
    assert _check(files[:1], no_shipped, RelayAsContracted) == [NO_FLUSH]
    assert _check(files[:1], no_shipped, RelayWithFlush) == []


def test_a_capability_without_input_of_a_class_that_cannot_be_loaded_fails_at_its_name(
    files: list[Path], no_shipped: Path
) -> None:
    _with_capability(files, "flush")
    assert _check(files[:1], no_shipped, ImportError("no module named acme_fake")) == [
        (
            "acme_relay.yaml",
            "capabilities[2].name",
            "cannot load the class of node acme_relay: ImportError: no module named acme_fake",
        )
    ]


def test_startup_raises_for_a_capability_naming_no_method(files: list[Path], no_shipped: Path) -> None:
    from importlib.metadata import EntryPoint

    _with_capability(files, "flush")
    point = EntryPoint("acme_relay", "acme_fake.node:NodeAcmeRelay", "onex.nodes")
    with pytest.raises(
        ContractError, match=r"capabilities\[2\]\.name: node acme_relay has no method 'flush'"
    ):
        load_contract_set(
            files,
            validate_core=False,
            check_classes=True,
            entry_points=(point,),
            registry=FakeRegistry({"acme_relay": RelayAsContracted}),
        )


def test_the_shipped_capabilities_without_input_name_methods_of_their_classes() -> None:
    """Every shipped capability without input names a public method (the shipped classes)."""
    contracts = load_contract_set(validate_core=False, check_classes=False)
    named = {(n.name, c.name) for n in contracts.nodes for c in n.capabilities if c.input is None}
    assert ("kafka_adapter", "execute") in named and ("group_gateway", "reply_topic") in named
    assert check_step_operations_against_classes(contracts) == []
