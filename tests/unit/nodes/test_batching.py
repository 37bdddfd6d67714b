"""message_aggregator's batching: per target, per-partition order, duplicates folded, offsets covered."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from omnibase_infra.models.model_consumed_record import ModelConsumedRecord
from omnibase_infra.nodes.message_aggregator.v1_0_0.batching import plan_batches
from omnibase_infra.nodes.message_aggregator.v1_0_0.models import ModelTargetedRecord

IDS = [uuid.UUID(int=i) for i in range(8)]


def _record(partition: int, offset: int, envelope: int, target: str = "event_store") -> ModelTargetedRecord:
    return ModelTargetedRecord(
        target=target,
        record=ModelConsumedRecord(
            topic="onex.evt.infrastructure.event-store.v1",
            partition=partition,
            offset=offset,
            envelope_id=IDS[envelope],
            payload={"n": offset},
        ),
    )


def test_example() -> None:
    records = [
        _record(0, 5, 1),
        _record(1, 2, 2),
        _record(0, 3, 1),
        _record(0, 4, 3),
        _record(1, 1, 4, "audit"),
    ]
    plan = plan_batches(records, batch_size=2)
    assert [(b.target, [(r.partition, r.offset) for r in b.records]) for b in plan.batches] == [
        ("audit", [(1, 1)]),
        ("event_store", [(0, 3), (0, 4)]),
        ("event_store", [(1, 2)]),
    ]
    assert plan.duplicates_folded == 1
    assert [(c.partition, c.offset) for c in plan.commit_offsets] == [(0, 6), (1, 3)]


records_strategy = st.lists(
    st.builds(
        _record,
        partition=st.integers(0, 2),
        offset=st.integers(0, 50),
        envelope=st.integers(0, 7),
        target=st.sampled_from(["event_store", "audit"]),
    ),
    max_size=40,
)


@given(records=records_strategy, batch_size=st.integers(1, 10))
def test_properties(records: list[ModelTargetedRecord], batch_size: int) -> None:
    plan = plan_batches(records, batch_size)
    assert all(1 <= len(b.records) <= batch_size for b in plan.batches)
    kept: dict[str, list[ModelConsumedRecord]] = {}
    for batch in plan.batches:
        kept.setdefault(batch.target, []).extend(batch.records)
    assert list(kept) == sorted(kept)  # batches of a target are contiguous, targets in order
    for target, rows in kept.items():
        ids = [r.envelope_id for r in rows]
        assert len(ids) == len(set(ids))
        assert set(ids) == {r.record.envelope_id for r in records if r.target == target}
        for partition in range(3):
            offsets = [r.offset for r in rows if r.partition == partition]
            assert offsets == sorted(offsets)
    assert plan.duplicates_folded == len(records) - sum(len(rows) for rows in kept.values())
    expected = {}
    for r in records:
        key = (r.record.topic, r.record.partition)
        expected[key] = max(expected.get(key, 0), r.record.offset + 1)
    assert {(c.topic, c.partition): c.offset for c in plan.commit_offsets} == expected
