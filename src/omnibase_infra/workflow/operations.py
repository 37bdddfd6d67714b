"""Node operations a composition step can name, and the context a step runs with.

A node marks each operation with ``@operation(input=..., output=...)``: an async
method ``(self, payload, step) -> payload``. ``output=SAME`` means the operation
returns the payload type it was given (it enriches or filters it), so the type
flowing on is the previous step's. The node's contract lists the same operations
under ``capabilities`` with the same models (``contracts check`` compares them),
and the orchestrator calls the operation once per payload, i.e. once per batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

SAME: Final = "same"
"""``output=SAME``: the operation returns the type of the payload it was given."""

OPERATION_ATTRIBUTE = "__onex_operation__"

StepParam = str | int | float | bool | None | list[str]
"""A value of a step's ``with`` mapping."""


@dataclass(frozen=True)
class OperationSpec:
    """What an operation takes and returns (classes), as declared by ``@operation``."""

    name: str
    input: type[object]
    output: type[object] | str  # a class, or SAME

    def output_for(self, given: type[object]) -> type[object]:
        """The payload type this operation returns when given ``given``."""
        return given if isinstance(self.output, str) else self.output


@dataclass(frozen=True)
class StepContext:
    """One step of one workflow, as its operation sees it.

    ``publishes``: the topics the step declares (where a publishing operation sends);
    ``params``: the step's ``with`` mapping from the composition contract.
    """

    workflow: str
    step_id: str
    node: str
    operation: str
    publishes: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    params: Mapping[str, StepParam] = field(default_factory=dict)

    @property
    def span_name(self) -> str:
        """``node.operation``: the name of the span the orchestrator opens for the step."""
        return f"{self.node}.{self.operation}"

    def param(self, name: str, default: StepParam = None) -> StepParam:
        return self.params.get(name, default)


StepCallable = Callable[[Any, StepContext], Awaitable[Any]]
"""A bound operation: ``await op(payload, step)`` returns the next payload."""


def operation[F: Callable[..., Awaitable[Any]]](
    *, input: type[object], output: type[object] | str = SAME
) -> Callable[[F], F]:
    """Mark an async method ``(self, payload, step)`` as an operation steps may name."""

    def mark(method: F) -> F:
        setattr(method, OPERATION_ATTRIBUTE, OperationSpec(method.__name__, input, output))
        return method

    return mark


def operations_of(node_class: type[object]) -> dict[str, OperationSpec]:
    """Every ``@operation`` of ``node_class`` (inherited ones included), by name."""
    found: dict[str, OperationSpec] = {}
    for klass in reversed(node_class.__mro__):
        for name, member in vars(klass).items():
            spec = getattr(member, OPERATION_ATTRIBUTE, None)
            if isinstance(spec, OperationSpec):
                found[name] = spec
    return found


def bind_operation(node: object, name: str) -> StepCallable:
    """``node``'s operation ``name`` as a callable; ``KeyError`` when it has none."""
    if name not in operations_of(type(node)):
        raise KeyError(f"{type(node).__name__} has no operation {name!r}")
    bound: StepCallable = getattr(node, name)
    return bound


__all__ = [
    "OPERATION_ATTRIBUTE",
    "SAME",
    "OperationSpec",
    "StepCallable",
    "StepContext",
    "StepParam",
    "bind_operation",
    "operation",
    "operations_of",
]
