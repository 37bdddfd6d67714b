"""The container holds the contracts, the environment, the clock and the collaborators passed in."""

from __future__ import annotations

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.container import build_container, missing_dependencies, verify_dependencies
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError, LifecycleError
from omnibase_infra.protocols.protocol_clock import ProtocolClock
from omnibase_infra.protocols.protocol_contract_set import ProtocolContractSet
from omnibase_infra.protocols.protocol_deployment_context import ProtocolDeploymentContext
from omnibase_infra.settings import load_settings


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contract_set()


async def test_registers_contracts_environment_and_clock(contracts: ContractSet) -> None:
    clock = FakeClock()
    container = await build_container(contracts, environment=EnumEnvironment.STAGING, clock=clock)
    assert await container.get_service_async(ProtocolContractSet) is contracts  # type: ignore[type-abstract]
    context = await container.get_service_async(ProtocolDeploymentContext)  # type: ignore[type-abstract]
    assert context.environment is EnumEnvironment.STAGING
    assert await container.get_service_async(ProtocolClock) is clock  # type: ignore[type-abstract]


async def test_settings_decide_the_environment(contracts: ContractSet) -> None:
    environ = {
        "ENVIRONMENT": "prod",
        "POSTGRES_HOST": "db",
        "POSTGRES_DATABASE": "onex",
        "POSTGRES_USER": "svc",
        "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
    }
    settings = load_settings(environ)
    container = await build_container(contracts, settings=settings)
    context = await container.get_service_async(ProtocolDeploymentContext)  # type: ignore[type-abstract]
    assert context.environment is EnumEnvironment.PRODUCTION
    with pytest.raises(ConfigurationError, match="ENVIRONMENT"):
        await build_container(contracts, settings=settings, environment=EnumEnvironment.DEVELOPMENT)


async def test_required_collaborators_are_checked(contracts: ContractSet) -> None:
    from omnibase_core.models.container.model_onex_container import ModelONEXContainer

    empty = ModelONEXContainer()
    missing = await missing_dependencies(empty, contracts)
    # every node needs the contracts and the deployment context; vault_adapter's credential
    # provider is optional (required: false) and never reported
    assert missing == [
        f"{node.name}: {protocol}"
        for node in contracts.nodes
        for protocol in ("ProtocolContractSet", "ProtocolDeploymentContext")
    ]
    assert len(missing) == 2 * len(contracts.nodes) >= 16
    assert not any("ProtocolCredentialProvider" in m for m in missing)
    with pytest.raises(LifecycleError, match="ProtocolDeploymentContext"):
        await verify_dependencies(empty, contracts)

    # what build_container registers is all the shipped contracts require (the nodes get the
    # rest, e.g. the topic ACL or the node directory, as optional collaborators)
    built = await build_container(contracts, environment=EnumEnvironment.DEVELOPMENT)
    assert await missing_dependencies(built, contracts) == []
    await verify_dependencies(built, contracts)
