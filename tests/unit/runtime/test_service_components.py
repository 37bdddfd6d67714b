"""The composition root wires no in-memory-only sink for the service's own events."""

from __future__ import annotations

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.infrastructure.outbox_spill import PostgresOutboxSpill
from omnibase_infra.infrastructure.resilient_publisher import InMemoryDeadLetterSink
from omnibase_infra.runtime.service_components import DurableEventPublisher, build_components
from omnibase_infra.settings import load_settings


def test_parked_events_go_to_the_outbox_table_and_state_events_are_published_durably() -> None:
    settings = load_settings(
        {
            "POSTGRES_HOST": "db",
            "POSTGRES_DATABASE": "d",
            "POSTGRES_USER": "u",
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
        }
    )
    components = build_components(settings, load_contract_set(validate_core=False))

    sink = components.event_publisher.dead_letter_sink
    assert isinstance(sink, PostgresOutboxSpill)
    assert not isinstance(sink, InMemoryDeadLetterSink)
    assert isinstance(components.state._publisher, DurableEventPublisher)
