"""Hosts the five nodes in an omnibase-core container for the running service.

The container holds the validated contracts, the deployment context and the two
effect handlers (by protocol); every node binds to its contract at
``initialize()`` and resolves what it needs from the container — nodes never
import each other. ``verify_dependencies`` refuses to start when a contract's
required collaborator is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from omnibase_infra.container import build_container, verify_dependencies
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import OperationExecutor
from omnibase_infra.protocols.protocol_credential_provider import ProtocolCredentialProvider
from omnibase_infra.protocols.protocol_kafka_effect_handler import ProtocolKafkaAdapterHandler
from omnibase_infra.protocols.protocol_postgres_effect_handler import ProtocolPostgresAdapterHandler
from omnibase_infra.runtime.node_handlers import KafkaAdapterHandler, PostgresAdapterHandler

if TYPE_CHECKING:
    from omnibase_core.models.container.model_onex_container import ModelONEXContainer

    from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.node import (
        NodeInfrastructureOrchestrator,
    )
    from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.node import NodeInfrastructureReducer
    from omnibase_infra.nodes.kafka_adapter.v1_0_0.node import NodeKafkaAdapterEffect
    from omnibase_infra.nodes.message_aggregator.v1_0_0.node import NodeMessageAggregatorCompute
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.node import NodePostgresAdapterEffect
    from omnibase_infra.nodes.vault_adapter.v1_0_0.node import NodeVaultAdapterEffect
    from omnibase_infra.runtime.service_components import ServiceComponents


@dataclass(frozen=True)
class HostedNodes:
    container: ModelONEXContainer
    postgres_adapter: NodePostgresAdapterEffect
    kafka_adapter: NodeKafkaAdapterEffect
    message_aggregator: NodeMessageAggregatorCompute
    infrastructure_reducer: NodeInfrastructureReducer
    infrastructure_orchestrator: NodeInfrastructureOrchestrator
    kafka_handler: KafkaAdapterHandler
    vault_adapter: NodeVaultAdapterEffect | None = None

    @property
    def names(self) -> tuple[str, ...]:
        hosted = (
            "postgres_adapter",
            "kafka_adapter",
            "message_aggregator",
            "infrastructure_reducer",
            "infrastructure_orchestrator",
        )
        return (*hosted, "vault_adapter") if self.vault_adapter is not None else hosted


async def host_nodes(
    components: ServiceComponents,
    executor: OperationExecutor,
    credentials: ProtocolCredentialProvider | None = None,
) -> HostedNodes:
    """Build the container, create the five nodes (six with a credential store) and initialise them."""
    from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.node import (
        NodeInfrastructureOrchestrator,
    )
    from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.node import NodeInfrastructureReducer
    from omnibase_infra.nodes.kafka_adapter.v1_0_0.node import NodeKafkaAdapterEffect
    from omnibase_infra.nodes.message_aggregator.v1_0_0.node import NodeMessageAggregatorCompute
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.node import NodePostgresAdapterEffect
    from omnibase_infra.nodes.vault_adapter.v1_0_0.node import NodeVaultAdapterEffect

    c = components
    kafka_handler = KafkaAdapterHandler(c.producers, c.kafka_breaker, topic_acl=c.topic_acl)
    container = await build_container(
        c.contracts,
        settings=c.settings,
        services=[
            (
                ProtocolPostgresAdapterHandler,
                PostgresAdapterHandler(c.database, c.postgres_breaker, executor),
            ),
            (ProtocolKafkaAdapterHandler, kafka_handler),
            *([(ProtocolCredentialProvider, credentials)] if credentials is not None else []),
        ],
    )
    await verify_dependencies(container, c.contracts)
    hosted = HostedNodes(
        container=container,
        postgres_adapter=NodePostgresAdapterEffect(container),
        kafka_adapter=NodeKafkaAdapterEffect(container),
        message_aggregator=NodeMessageAggregatorCompute(container),
        infrastructure_reducer=NodeInfrastructureReducer(container),
        infrastructure_orchestrator=NodeInfrastructureOrchestrator(container),
        kafka_handler=kafka_handler,
        vault_adapter=NodeVaultAdapterEffect(container) if credentials is not None else None,
    )
    if hosted.vault_adapter is not None:
        await hosted.vault_adapter.initialize()
    for node in (
        hosted.postgres_adapter,
        hosted.kafka_adapter,
        hosted.message_aggregator,
        hosted.infrastructure_reducer,
        hosted.infrastructure_orchestrator,
    ):
        await node.initialize()
    return hosted


__all__ = ["HostedNodes", "host_nodes"]
