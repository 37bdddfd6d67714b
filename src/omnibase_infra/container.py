"""Builds the omnibase-core container the nodes resolve their collaborators from.

``build_container`` registers, by protocol type (never by string name):

- ``ProtocolContractSet``        -> the validated ``ContractSet``
- ``ProtocolDeploymentContext``  -> ``ModelDeploymentContext`` (environment, settings)
- ``ProtocolClock``              -> the clock (``SYSTEM_CLOCK`` unless a fake is given)

plus every ``(protocol, instance)`` pair passed in ``services`` (the host adds the node
directory, the breaker listener and the workflow observer there). ``verify_dependencies``
then checks that each required ``dependencies`` entry of every node contract can be resolved.
omnibase-core's container module is imported on first call (about 0.4 s).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.environment import EnumEnvironment, detect_environment
from omnibase_infra.errors import ConfigurationError, LifecycleError
from omnibase_infra.models.model_deployment_context import ModelDeploymentContext
from omnibase_infra.protocols.protocol_clock import ProtocolClock
from omnibase_infra.protocols.protocol_contract_set import ProtocolContractSet
from omnibase_infra.protocols.protocol_deployment_context import ProtocolDeploymentContext
from omnibase_infra.settings import ModelInfraSettings

if TYPE_CHECKING:
    from omnibase_core.models.container.model_onex_container import ModelONEXContainer

ServiceBinding = tuple[type[object], object]
"""A protocol (or class) and the instance to resolve for it."""


async def register(container: ModelONEXContainer, interface: type[object], instance: object) -> None:
    """Register ``instance`` under ``interface`` (global scope)."""
    await container.service_registry.register_instance(interface, instance)


async def build_container(
    contract_set: ContractSet,
    *,
    settings: ModelInfraSettings | None = None,
    environment: EnumEnvironment | None = None,
    clock: Clock = SYSTEM_CLOCK,
    services: Iterable[ServiceBinding] = (),
) -> ModelONEXContainer:
    """A new container holding the contracts, the deployment context, the clock and ``services``.

    The environment is ``settings.environment`` when settings are given, else
    ``environment``, else detected from the process environment. Giving both with
    different values raises ``ConfigurationError``.
    """
    from omnibase_core.models.container.model_onex_container import ModelONEXContainer

    if settings is not None and environment is not None and settings.environment != environment:
        raise ConfigurationError(
            "ENVIRONMENT", f"settings say {settings.environment.value}, caller says {environment.value}"
        )
    env = settings.environment if settings is not None else environment or detect_environment()
    container = ModelONEXContainer()
    await register(container, ProtocolContractSet, contract_set)
    await register(
        container, ProtocolDeploymentContext, ModelDeploymentContext(environment=env, settings=settings)
    )
    await register(container, ProtocolClock, clock)
    for interface, instance in services:
        await register(container, interface, instance)
    return container


def _protocol(import_path: str) -> type[object]:
    module_name, _, name = import_path.partition(":")
    found = getattr(importlib.import_module(module_name), name)
    if not isinstance(found, type):
        raise TypeError(f"{import_path} is not a class")
    return found


async def missing_dependencies(container: ModelONEXContainer, contract_set: ContractSet) -> list[str]:
    """``node: Protocol`` for each required contract dependency the container cannot resolve."""
    missing: list[str] = []
    for node in contract_set.nodes:
        for dependency in node.dependencies:
            if not dependency.required:
                continue
            try:
                await container.get_service_async(_protocol(dependency.import_path))
            except Exception:  # core raises its own resolution error type
                missing.append(f"{node.name}: {dependency.name}")
    return missing


async def verify_dependencies(container: ModelONEXContainer, contract_set: ContractSet) -> None:
    """Raise ``LifecycleError`` listing every required collaborator that is not registered."""
    missing = await missing_dependencies(container, contract_set)
    if missing:
        raise LifecycleError("container lacks required collaborators: " + "; ".join(missing))


__all__ = ["ServiceBinding", "build_container", "missing_dependencies", "register", "verify_dependencies"]
