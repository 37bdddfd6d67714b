"""Hosts the node group in an omnibase-core container: loaded through the registry, never imported.

``host_nodes`` discovers the ``onex.nodes`` entry points that have a contract in the
contract set (``registry.entry_points.discover_nodes``), creates one instance of each
node a workflow names (plus vault_adapter with a credential store), registers them in
the container (the ``ProtocolNodeDirectory`` the orchestrator binds steps to;
group_gateway as the topic ACL and the reply addressing) and initialises them:
group_gateway first, infrastructure_orchestrator last (it compiles the workflows).
A workflow naming a node that is not installed stops startup naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omnibase_infra.container import build_container, verify_dependencies
from omnibase_infra.errors import LifecycleError
from omnibase_infra.protocols.protocol_credential_provider import ProtocolCredentialProvider
from omnibase_infra.registry.entry_points import discover_nodes
from omnibase_infra.workflow.protocols import (
    ProtocolBreakerListener,
    ProtocolNodeDirectory,
    ProtocolReplyAddressing,
    ProtocolTopicAcl,
    ProtocolWorkflowObserver,
)

if TYPE_CHECKING:
    from omnibase_core.models.container.model_onex_container import ModelONEXContainer

    from omnibase_infra.clock import Clock
    from omnibase_infra.contract_validation.contract_set import ContractSet
    from omnibase_infra.settings import ModelInfraSettings

FIRST = "group_gateway"
LAST = "infrastructure_orchestrator"


@dataclass
class NodeDirectory:
    """``ProtocolNodeDirectory``: the node instances by name."""

    by_name: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> Any:
        return self.by_name[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self.by_name)


@dataclass(frozen=True)
class HostedNodes:
    container: ModelONEXContainer
    directory: NodeDirectory

    @property
    def names(self) -> tuple[str, ...]:
        return self.directory.names()

    def __getattr__(self, name: str) -> Any:
        try:
            return self.directory.by_name[name]
        except KeyError:
            raise AttributeError(name) from None


def _needed(contracts: ContractSet, credentials: object | None) -> list[str]:
    names = [FIRST] + [step.node for w in contracts.workflows for step in w.steps] + [LAST]
    if credentials is not None:
        names.append("vault_adapter")
    return list(dict.fromkeys(names))


async def host_nodes(
    contracts: ContractSet,
    settings: ModelInfraSettings,
    *,
    clock: Clock,
    listener: ProtocolBreakerListener,
    observer: ProtocolWorkflowObserver,
    credentials: ProtocolCredentialProvider | None = None,
) -> HostedNodes:
    """Create, register and initialise every node the workflows name (see the module docstring)."""
    registry = discover_nodes(contracts).registry
    directory = NodeDirectory()
    container = await build_container(
        contracts,
        settings=settings,
        clock=clock,
        services=[
            (ProtocolNodeDirectory, directory),
            (ProtocolBreakerListener, listener),
            (ProtocolWorkflowObserver, observer),
            *([(ProtocolCredentialProvider, credentials)] if credentials is not None else []),
        ],
    )
    for name in _needed(contracts, credentials):
        if name not in registry:
            raise LifecycleError(
                f"node {name} is named by a workflow but not installed (no onex.nodes entry point)"
            )
        node_class: Any = registry.load_class(name)
        directory.by_name[name] = node_class(container)
    gateway = directory.by_name[FIRST]
    await container.service_registry.register_instance(ProtocolTopicAcl, gateway)
    await container.service_registry.register_instance(ProtocolReplyAddressing, gateway)
    await verify_dependencies(container, contracts)
    order = [FIRST] + [n for n in directory.names() if n not in (FIRST, LAST)] + [LAST]
    for name in order:
        await directory.by_name[name].initialize()
    gateway.attach(directory.by_name[LAST])
    return HostedNodes(container=container, directory=directory)


__all__ = ["HostedNodes", "NodeDirectory", "host_nodes"]
