"""publish_replies sends every reply of a batch together, then waits: the replies never wait out linger_ms."""

from __future__ import annotations

import uuid

from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.records import Partition, ProtocolConsumerRecord

from .fakes import FakeRecord
from .workflow_harness import COMMANDS, FAILED, host_workflows


async def test_replies_are_sent_without_linger_and_dead_letters_with_it() -> None:
    harness = await host_workflows()  # an empty catalog: each command fails and is dead-lettered
    requests = [
        ModelEventEnvelope[JsonValue](payload={"operation": "nope"}, correlation_id=uuid.uuid4())
        for _ in range(3)
    ]
    records: list[ProtocolConsumerRecord] = [
        FakeRecord(COMMANDS, 0, offset, b"k", encode_envelope(r), ()) for offset, r in enumerate(requests)
    ]

    await harness.gateway.handle({Partition(COMMANDS, 0): records})

    sent = harness.publisher.sent
    assert [s.topic for s in sent] == [FAILED] * 3 + [COMMANDS + ".dlq"] * 3
    assert harness.publisher.lingered == [False] * 3 + [True] * 3
    assert harness.publisher.batches == [3], "the batch's replies in one group (one lane of the pool)"
