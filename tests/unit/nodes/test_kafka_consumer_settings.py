"""The contract's ``kafka_consumer`` settings reach aiokafka's consumer (built, never started)."""

from __future__ import annotations

import pytest

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import _AiokafkaConsumer
from omnibase_infra.settings import load_settings
from omnibase_infra.workflow.records import Partition

ENV = {
    "POSTGRES_HOST": "db.example",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
}


async def _nothing(partitions: set[Partition]) -> None:
    return None


@pytest.mark.parametrize(
    ("environment", "wait_ms"), [("production", 500), ("staging", 500), ("development", 100)]
)
async def test_the_fetch_wait_and_poll_size_are_the_contracts(environment: str, wait_ms: int) -> None:
    """``fetch_max_wait_ms`` also bounds how long a command can wait behind a fetch of idle
    topics (docs/configuration.md); the contract's value per environment reaches aiokafka."""
    settings = load_settings({**ENV, "ENVIRONMENT": environment})
    contract = load_contract_set(validate_core=False).node("kafka_adapter")
    consumer_settings = contract.kafka_consumer(settings.environment)
    consumer = _AiokafkaConsumer(
        ["t"],
        bootstrap_servers="broker.example:9092",
        group_id="g",
        security=settings.kafka_security,
        on_revoked=_nothing,
        on_assigned=_nothing,
        client_id="c",
        settings=consumer_settings,
    )

    aiokafka_consumer = consumer._consumer
    assert aiokafka_consumer._fetch_max_wait_ms == consumer_settings.fetch_max_wait_ms == wait_ms
    assert aiokafka_consumer._max_poll_records == consumer_settings.max_poll_records
