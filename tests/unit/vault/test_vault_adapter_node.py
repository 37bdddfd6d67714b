"""The vault_adapter node binds to its contract and delegates to the registered credential provider."""

from __future__ import annotations

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.container import build_container, missing_dependencies
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import LifecycleError
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.nodes.vault_adapter.v1_0_0.models import (
    ModelHealthCheckRequest,
    ModelHealthCheckResult,
    ModelReadCredentialsRequest,
    ModelReadCredentialsResult,
    ModelRefreshRequest,
    ModelRefreshResult,
    ModelVaultAdapterInput,
)
from omnibase_infra.nodes.vault_adapter.v1_0_0.node import NodeVaultAdapterEffect
from omnibase_infra.protocols.protocol_credential_provider import ProtocolCredentialProvider

from .fakes import seeded_client, token_settings


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contract_set()


def test_contract_declares_an_effect_with_the_seed_breakers(contracts: ContractSet) -> None:
    node = contracts.node("vault_adapter")
    assert node.kind == "EFFECT"
    assert node.circuit_breaker(EnumEnvironment.PRODUCTION).failure_threshold == 5
    assert node.circuit_breaker(EnumEnvironment.DEVELOPMENT).graceful_degradation is True
    assert [c.name for c in node.capabilities] == ["execute"]  # read credentials, refresh, health check
    assert [d.required for d in node.dependencies if d.name == "ProtocolCredentialProvider"] == [False]


async def test_the_provider_is_optional_in_the_container(contracts: ContractSet) -> None:
    bare = await build_container(contracts, environment=EnumEnvironment.DEVELOPMENT)
    assert not [m for m in await missing_dependencies(bare, contracts) if m.startswith("vault_adapter")]


async def test_from_contract_uses_the_environment_breaker(contracts: ContractSet) -> None:
    clock = FakeClock()
    provider = VaultCredentialProvider.from_contract(
        token_settings(),
        contracts.node("vault_adapter"),
        EnumEnvironment.STAGING,
        client_factory=lambda _: seeded_client(),
        clock=clock,
    )
    assert provider.breaker is not None
    assert provider.breaker.config.failure_threshold == 3
    assert provider.breaker.name == "vault"


async def test_node_reads_refreshes_and_reports(contracts: ContractSet) -> None:
    client = seeded_client()
    provider = VaultCredentialProvider(token_settings(), client, clock=FakeClock())
    container = await build_container(
        contracts,
        environment=EnumEnvironment.DEVELOPMENT,
        services=[(ProtocolCredentialProvider, provider)],
    )
    node = NodeVaultAdapterEffect(container)
    with pytest.raises(LifecycleError, match="initialize"):
        await node.execute(ModelVaultAdapterInput(request=ModelHealthCheckRequest()))
    await node.initialize()
    assert getattr(node.contract_data, "name", None) == "vault_adapter"

    read = await node.execute(ModelVaultAdapterInput(request=ModelReadCredentialsRequest(target="kafka")))
    assert isinstance(read.result, ModelReadCredentialsResult)
    assert read.result.credentials.password.get_secret_value() == "kafka-password-v1"
    assert "kafka-password-v1" not in read.model_dump_json()

    refreshed = await node.execute(ModelVaultAdapterInput(request=ModelRefreshRequest()))
    assert isinstance(refreshed.result, ModelRefreshResult)
    assert refreshed.result.refreshed == ("postgres",)

    health = await node.execute(ModelVaultAdapterInput(request=ModelHealthCheckRequest()))
    assert isinstance(health.result, ModelHealthCheckResult)
    assert health.result.status.healthy
    assert [t.version for t in health.result.status.targets] == [1, 1]


async def test_node_without_provider_refuses(contracts: ContractSet) -> None:
    container = await build_container(contracts, environment=EnumEnvironment.DEVELOPMENT)
    node = NodeVaultAdapterEffect(container)
    await node.initialize()
    with pytest.raises(LifecycleError, match="no ProtocolCredentialProvider"):
        await node.execute(ModelVaultAdapterInput(request=ModelHealthCheckRequest()))


def test_requests_are_a_closed_set() -> None:
    parsed = ModelVaultAdapterInput.model_validate(
        {"request": {"kind": "read_credentials", "target": "postgres"}}
    )
    assert isinstance(parsed.request, ModelReadCredentialsRequest)
    with pytest.raises(ValueError, match="target"):
        ModelVaultAdapterInput.model_validate({"request": {"kind": "read_credentials", "target": "redis"}})
    with pytest.raises(ValueError, match="kind"):
        ModelVaultAdapterInput.model_validate({"request": {"kind": "write_secret"}})
