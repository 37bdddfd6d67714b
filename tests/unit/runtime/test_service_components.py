"""The composition root wires no in-memory-only sink for the service's own events."""

from __future__ import annotations

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.infrastructure.outbox_spill import PostgresOutboxSpill, ProtocolOutboxSpill
from omnibase_infra.infrastructure.resilient_publisher import InMemoryDeadLetterSink, ResilientPublisher
from omnibase_infra.nodes.group_gateway.v1_0_0.node import NodeGroupGateway
from omnibase_infra.runtime.service_components import host_components
from omnibase_infra.settings import load_settings
from omnibase_infra.workflow.protocols import ProtocolTopicAcl


async def test_parked_events_go_to_the_outbox_table_and_state_events_are_published_durably() -> None:
    settings = load_settings(
        {
            "POSTGRES_HOST": "db",
            "POSTGRES_DATABASE": "d",
            "POSTGRES_USER": "u",
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
        }
    )
    components = await host_components(settings, load_contract_set(validate_core=False))
    nodes = components.nodes
    postgres, kafka = nodes.postgres_adapter, nodes.kafka_adapter

    # the host registers postgres_adapter's outbox (over its pool) as the spill of the container
    spill = await nodes.container.get_service_async(ProtocolOutboxSpill)  # type: ignore[type-abstract]  # resolved by protocol type
    assert isinstance(spill, PostgresOutboxSpill) and spill is postgres.outbox_spill
    # the state events go through kafka_adapter's durable publisher, over that outbox; built
    # when the node starts (no I/O: the producers are never started here)
    publisher = await kafka._durable_publisher()
    try:
        assert isinstance(publisher, ResilientPublisher)
        assert publisher._spill is spill
        sink = publisher.dead_letter_sink
        assert sink is spill, "parked state events become dead_letter rows of onex_outbox"
        assert not isinstance(sink, InMemoryDeadLetterSink)
    finally:
        await publisher.stop()
    # and every publish of the workflows passes group_gateway's topic ACL
    acl = await nodes.container.get_service_async(ProtocolTopicAcl)  # type: ignore[type-abstract]  # resolved by protocol type
    assert isinstance(acl, NodeGroupGateway) and acl is nodes.group_gateway
    assert kafka._acl is acl and postgres.resources.executor._topic_acl is acl
