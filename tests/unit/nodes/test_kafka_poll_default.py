"""kafka_adapter's `poll` takes the contract's `max_poll_records` when a request names no `max_records`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.nodes.kafka_adapter.v1_0_0.models import ModelPollRequest
from omnibase_infra.runtime.service_components import host_components
from omnibase_infra.settings import load_settings
from omnibase_infra.workflow.records import Partition

ENV = {
    "POSTGRES_HOST": "db.example",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
}


class RecordingConsumer:
    """The node's own consumer, already polling ``topics``: records what each fetch asked for."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Mapping[Partition, Sequence[object]]:
        self.asked.append(max_records)
        return {}


@pytest.mark.parametrize(("environment", "expected"), [("production", 500), ("development", 100)])
async def test_a_poll_without_max_records_takes_the_contracts_max_poll_records(
    environment: str, expected: int
) -> None:
    settings = load_settings({**ENV, "ENVIRONMENT": environment})
    c = await host_components(settings, load_contract_set(validate_core=False))
    node = c.nodes.kafka_adapter
    consumer = RecordingConsumer()
    object.__setattr__(node, "_consumer", consumer)
    object.__setattr__(node, "_polled_topics", ("t",))

    await node._poll(ModelPollRequest(topics=("t",), timeout_ms=0))
    await node._poll(ModelPollRequest(topics=("t",), timeout_ms=0, max_records=7))

    assert consumer.asked == [expected, 7]
