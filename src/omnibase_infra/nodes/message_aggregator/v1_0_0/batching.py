"""Pure: group consumed envelopes into write batches (message_aggregator).

Guarantees, for any input order:
- one batch holds records of one target only; batches of a target follow each other;
- within a target, records are in (topic, partition, offset) order, so the order of
  every partition is kept;
- an envelope id appears once per target: the copy with the lowest (topic, partition,
  offset) is kept, the others are folded and counted (``fold_operations.keep_lowest_copies``,
  the rule of ``fold_duplicates`` too);
- at most ``batch_size`` records per batch;
- ``commit_offsets`` holds, per partition, the highest offset seen plus one: folded
  duplicates count as processed, so the commit covers them. They are safe to commit
  only after every batch of the plan is applied.
No I/O and no clock: the same input always gives the same plan.
"""

from __future__ import annotations

from collections.abc import Sequence

from omnibase_infra.models.model_consumed_record import ModelConsumedRecord, ModelTopicPartitionOffset
from omnibase_infra.nodes.message_aggregator.v1_0_0.fold_operations import keep_lowest_copies
from omnibase_infra.nodes.message_aggregator.v1_0_0.models import (
    ModelBatchPlan,
    ModelTargetedRecord,
    ModelWriteBatch,
)


def _position(record: ModelConsumedRecord) -> tuple[str, int, int]:
    return (record.topic, record.partition, record.offset)


def commit_offsets(records: Sequence[ModelConsumedRecord]) -> tuple[ModelTopicPartitionOffset, ...]:
    """Per (topic, partition): the next offset to read after every given record."""
    highest: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        highest[key] = max(highest.get(key, -1), record.offset)
    return tuple(
        ModelTopicPartitionOffset(topic=topic, partition=partition, offset=offset + 1)
        for (topic, partition), offset in sorted(highest.items())
    )


def plan_batches(records: Sequence[ModelTargetedRecord], batch_size: int) -> ModelBatchPlan:
    """Cut ``records`` into ordered, de-duplicated write batches of at most ``batch_size``."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    by_target: dict[str, list[ModelConsumedRecord]] = {}
    for item in records:
        by_target.setdefault(item.target, []).append(item.record)
    batches: list[ModelWriteBatch] = []
    folded = 0
    for target in sorted(by_target):
        ordered = sorted(by_target[target], key=_position)
        kept, dropped = keep_lowest_copies(ordered, lambda r: r.envelope_id, _position)
        folded += dropped
        for start in range(0, len(kept), batch_size):
            batches.append(ModelWriteBatch(target=target, records=tuple(kept[start : start + batch_size])))
    return ModelBatchPlan(
        batches=tuple(batches),
        duplicates_folded=folded,
        commit_offsets=commit_offsets([item.record for item in records]),
    )


__all__ = ["commit_offsets", "plan_batches"]
