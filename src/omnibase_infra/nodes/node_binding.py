"""What every node of this package binds to at ``initialize()``: its validated contract.

omnibase-core's default contract loading walks the call stack for a ``contract.yaml``
and can pick up the caller's; our nodes instead take their contract from the
``ProtocolContractSet`` in the container (validated at startup) and the environment
from ``ProtocolDeploymentContext``, and give core its ``contract_data`` from that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from omnibase_infra.contract_validation.core_validation import validate_core
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import LifecycleError
from omnibase_infra.protocols.protocol_contract_set import ProtocolContractSet
from omnibase_infra.protocols.protocol_deployment_context import ProtocolDeploymentContext
from omnibase_infra.settings import ModelInfraSettings, load_settings

if TYPE_CHECKING:
    from omnibase_core.models.container.model_onex_container import ModelONEXContainer
    from pydantic import BaseModel

    from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedNodeContract


@dataclass(frozen=True)
class NodeBinding:
    """A node's contract, the environment it runs in, and core's view of the contract."""

    contract: LoadedNodeContract
    environment: EnumEnvironment
    core_contract: BaseModel
    contract_set: ContractSet


async def resolve_binding(container: ModelONEXContainer, node_name: str) -> NodeBinding:
    """Look up ``node_name``'s contract and the environment in ``container``.

    Raises ``LifecycleError`` naming what is missing when the container was not built
    by ``omnibase_infra.container.build_container`` (or lacks those registrations).
    """
    try:
        contracts = await container.get_service_async(ProtocolContractSet)  # type: ignore[type-abstract]  # resolved by protocol type
        context = await container.get_service_async(ProtocolDeploymentContext)  # type: ignore[type-abstract]  # resolved by protocol type
    except Exception as exc:  # core raises its own resolution error type
        raise LifecycleError(f"{node_name}: container lacks contracts or deployment context: {exc}") from exc
    contract = contracts.find_node(node_name)
    if contract is None:
        raise LifecycleError(f"{node_name}: no contract for this node in the contract set")
    core = validate_core(contract.core_document(), contract.document.node_type)
    return NodeBinding(
        contract=contract,
        environment=context.environment,
        core_contract=core,
        contract_set=cast("ContractSet", contracts),
    )


def require_binding(binding: NodeBinding | None, node_name: str) -> NodeBinding:
    """``binding``, or ``LifecycleError`` when the node was not initialised."""
    if binding is None:
        raise LifecycleError(f"{node_name}: call `await node.initialize()` first")
    return binding


class ContractBound:
    """Mixin of every node here: binds to its validated contract at ``initialize()``.

    Put it before core's node class in the bases. ``resolve`` / ``resolve_optional`` get
    collaborators from the container by protocol type; ``settings`` are the service
    settings of the deployment context (loaded from the environment when the container
    carries none, as for a node used on its own).
    """

    node_name: ClassVar[str]
    _binding: NodeBinding | None = None
    container: ModelONEXContainer
    contract_data: object

    async def _load_contract(self) -> None:
        # Replaces core's stack-walking discovery with our validated contract.
        binding = await resolve_binding(self.container, self.node_name)
        object.__setattr__(self, "_binding", binding)
        object.__setattr__(self, "contract_data", binding.core_contract)

    @property
    def binding(self) -> NodeBinding:
        """The contract and environment; ``LifecycleError`` before ``initialize()``."""
        return require_binding(self._binding, self.node_name)

    async def resolve[P](self, protocol: type[P], hint: str = "") -> P:
        """The collaborator registered for ``protocol``; ``LifecycleError`` before ``initialize()``
        or naming it when absent."""
        require_binding(self._binding, self.node_name)
        try:
            return await self.container.get_service_async(protocol)
        except Exception as exc:  # core raises its own resolution error type
            raise LifecycleError(f"{self.node_name}: no {protocol.__name__} registered{hint}") from exc

    async def resolve_optional[P](self, protocol: type[P]) -> P | None:
        """The collaborator registered for ``protocol``, or None."""
        try:
            return await self.container.get_service_async(protocol)
        except Exception:  # core raises its own resolution error type
            return None

    async def settings(self) -> ModelInfraSettings:
        """The service settings: the deployment context's, else read from the environment."""
        context = await self.container.get_service_async(ProtocolDeploymentContext)  # type: ignore[type-abstract]  # resolved by protocol type
        loaded = getattr(context, "settings", None)
        if isinstance(loaded, ModelInfraSettings):
            return loaded
        return load_settings()


__all__ = ["ContractBound", "NodeBinding", "require_binding", "resolve_binding"]
