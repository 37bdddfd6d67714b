"""Contracts against node classes: every capability names what the node's class has.

For every step of every workflow the node's class (loaded through the registry: the
``onex.nodes`` entry point beside the contract) must have an ``@operation`` of the
step's operation name whose ``input`` and ``output`` are the classes the capability
declares (``same`` <-> ``SAME``). Every capability without ``input`` (no step
operation) of every node must name a public method of the node's class that is no
``@operation`` (an ``@operation`` is a step operation: its capability declares its
``input``). A contract that promises what the code does not do fails here, at startup
and in ``contracts check``, not at the first batch.

This imports node classes (omnibase-core's node bases, about 0.5 s), so it runs only
when the loader is asked to (``check_contracts(check_classes=...)``), never on import.
Problems name the composition step (no class, no such operation) or the node
contract's capability (types that differ, no such method, a class that cannot be
loaded for a capability without input); they are returned, not raised.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import Protocol

from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedNodeContract
from omnibase_infra.contract_validation.discovery import display_name
from omnibase_infra.contract_validation.model_contract_sections import SAME_AS_INPUT
from omnibase_infra.contract_validation.payload_types import ClassResolver, class_label
from omnibase_infra.contract_validation.problems import ModelContractProblem, PathPart, format_key_path
from omnibase_infra.workflow.operations import OperationSpec, operations_of


class NodeClassSource(Protocol):
    """Where node classes come from: ``NodeRegistry`` (tests pass a fake)."""

    def load_class(self, name: str, version: str | None = None) -> type[object]:
        """The node's class; ``KeyError`` when the node is not registered."""
        ...


def _problem(file: str, parts: Iterable[PathPart], reason: str) -> ModelContractProblem:
    return ModelContractProblem(file=file, key_path=format_key_path(parts), reason=reason, stage="class")


class _ClassChecker:
    def __init__(self, contract_set: ContractSet, registry: NodeClassSource) -> None:
        self.contract_set = contract_set
        self.registry = registry
        self.resolver = ClassResolver()
        self.classes: dict[str, type[object] | str] = {}
        self.done: set[tuple[str, str]] = set()
        self.problems: list[ModelContractProblem] = []

    def node_class(self, node: LoadedNodeContract) -> type[object] | str:
        if node.name not in self.classes:
            try:
                self.classes[node.name] = self.registry.load_class(node.name, str(node.version))
            except KeyError:
                self.classes[node.name] = (
                    f"node {node.name} {node.version} has no registered class "
                    "(no onex.nodes entry point whose module is beside its contract)"
                )
            except Exception as error:  # an import that raises is reported, not propagated
                self.classes[node.name] = (
                    f"cannot load the class of node {node.name}: {type(error).__name__}: {error}"
                )
        return self.classes[node.name]

    def compare(self, node: LoadedNodeContract, index: int, spec: OperationSpec, owner: str) -> None:
        """The capability's declared classes against the ``@operation``'s."""
        capability = node.capabilities[index]
        file = display_name(node.path, node.origin)
        at: list[PathPart] = ["capabilities", index]
        if capability.input is not None:
            declared = self.resolver.resolve(capability.input)
            if isinstance(declared, type) and declared is not spec.input:
                self.problems.append(
                    _problem(
                        file,
                        [*at, "input"],
                        f"{node.name}.{capability.name} takes {class_label(declared)} in the contract "
                        f"but {owner}.{spec.name} takes {class_label(spec.input)}",
                    )
                )
        if capability.output is None:
            return
        code_output = spec.output if isinstance(spec.output, type) else SAME_AS_INPUT
        if capability.output == SAME_AS_INPUT or isinstance(code_output, str):
            if capability.output != code_output:
                shown = code_output if isinstance(code_output, str) else class_label(code_output)
                self.problems.append(
                    _problem(
                        file,
                        [*at, "output"],
                        f"{node.name}.{capability.name} returns {capability.output} in the contract "
                        f"but {owner}.{spec.name} returns {shown}",
                    )
                )
            return
        declared_output = self.resolver.resolve(capability.output)
        if isinstance(declared_output, type) and declared_output is not code_output:
            self.problems.append(
                _problem(
                    file,
                    [*at, "output"],
                    f"{node.name}.{capability.name} returns {class_label(declared_output)} in the contract "
                    f"but {owner}.{spec.name} returns {class_label(code_output)}",
                )
            )

    def method_capabilities(self, node: LoadedNodeContract) -> None:
        """Each capability without ``input`` names a public method (no ``@operation``) of the class."""
        file = display_name(node.path, node.origin)
        for index, capability in enumerate(node.capabilities):
            if capability.input is not None:
                continue
            at: list[PathPart] = ["capabilities", index, "name"]
            node_class = self.node_class(node)
            if isinstance(node_class, str):
                self.problems.append(_problem(file, at, node_class))
                return
            name = capability.name
            if name in operations_of(node_class):
                self.problems.append(
                    _problem(
                        file,
                        at,
                        f"node {node.name}: {node_class.__qualname__}.{name} is an @operation "
                        "(a step operation: its capability declares its input and output)",
                    )
                )
            elif not _public_method(node_class, name):
                self.problems.append(
                    _problem(
                        file,
                        at,
                        f"node {node.name} has no method {name!r} "
                        "(a capability without input names a method of the node class)",
                    )
                )

    def step(self, file: str, at: list[PathPart], node_name: str, operation: str) -> None:
        node = self.contract_set.find_node(node_name)
        if node is None or (node.name, operation) in self.done:
            return
        index = next(
            (i for i, c in enumerate(node.capabilities) if c.name == operation and c.input is not None),
            None,
        )
        if index is None:
            return  # not a step operation: the cross checks reported it
        self.done.add((node.name, operation))
        node_class = self.node_class(node)
        if isinstance(node_class, str):
            if (node.name, "") not in self.done:
                self.done.add((node.name, ""))
                self.problems.append(_problem(file, [*at, "node"], node_class))
            return
        specs = operations_of(node_class)
        spec = specs.get(operation)
        owner = node_class.__qualname__
        if spec is None:
            has = ", ".join(sorted(specs)) or "none"
            self.problems.append(
                _problem(
                    file,
                    [*at, "operation"],
                    f"{owner} (node {node.name}) has no @operation {operation!r} (its operations: {has})",
                )
            )
            return
        self.compare(node, index, spec, owner)


def _public_method(node_class: type[object], name: str) -> bool:
    """``name`` is a public method of ``node_class`` (inherited ones count; properties do not)."""
    if name.startswith("_"):
        return False
    try:
        found = inspect.getattr_static(node_class, name)
    except AttributeError:
        return False
    return inspect.isfunction(found) or isinstance(found, staticmethod | classmethod)


def check_step_operations_against_classes(
    contract_set: ContractSet,
    registry: NodeClassSource | None = None,
    *,
    entry_points: Iterable[EntryPoint] | None = None,
) -> list[ModelContractProblem]:
    """Every step's operation and every capability without ``input`` against the node classes.

    The module docstring says what is checked.

    ``registry``: where classes come from; by default the registry the ``onex.nodes``
    entry points fill for ``contract_set`` (``entry_points`` replaces the installed ones).
    """
    if registry is None:
        from omnibase_infra.registry.entry_points import discover_nodes

        found = None if entry_points is None else tuple(entry_points)
        registry = discover_nodes(contract_set, found=found).registry
    checker = _ClassChecker(contract_set, registry)
    for composition in contract_set.compositions:
        file = display_name(composition.path, composition.origin)
        for w_index, workflow in enumerate(composition.workflows):
            for s_index, step in enumerate(workflow.steps):
                at: list[PathPart] = ["workflows", w_index, "steps", s_index]
                checker.step(file, at, step.node, step.operation)
    for node in contract_set.nodes:
        checker.method_capabilities(node)
    return checker.problems


__all__ = ["NodeClassSource", "check_step_operations_against_classes"]
