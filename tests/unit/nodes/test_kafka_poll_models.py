"""kafka_adapter's poll result: what a commit after handling the polled records takes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnibase_infra.models.model_consumed_record import ModelTopicPartitionOffset
from omnibase_infra.nodes.kafka_adapter.v1_0_0.models import (
    ModelKafkaAdapterInput,
    ModelPolledRecord,
    ModelPollRequest,
    ModelPollResult,
)


def _record(topic: str, partition: int, offset: int) -> ModelPolledRecord:
    return ModelPolledRecord(topic=topic, partition=partition, offset=offset, value=b"v")


def test_next_offsets_is_one_past_the_last_record_of_each_partition() -> None:
    result = ModelPollResult(
        records=(_record("b", 0, 7), _record("a", 1, 3), _record("a", 1, 4), _record("a", 0, 0))
    )
    assert result.next_offsets() == (
        ModelTopicPartitionOffset(topic="a", partition=0, offset=1),
        ModelTopicPartitionOffset(topic="a", partition=1, offset=5),
        ModelTopicPartitionOffset(topic="b", partition=0, offset=8),
    )
    assert ModelPollResult(records=()).next_offsets() == ()


def test_a_poll_request_is_one_of_the_adapter_inputs_and_names_a_topic() -> None:
    parsed = ModelKafkaAdapterInput.model_validate({"request": {"kind": "poll", "topics": ["t"]}})
    assert parsed.request == ModelPollRequest(topics=("t",))
    with pytest.raises(ValidationError):
        ModelPollRequest(topics=())
