"""message_aggregator's ``fold_duplicates``: one copy of each envelope id per batch.

The rule (the same in ``batching.plan_batches``): of the copies of one envelope id, the
one with the lowest (topic, partition, offset) is kept; the others are folded and
counted. The kept rows stay in consumption order, so the order of every partition is
kept. A batch without duplicates (one set of its ids tells) is returned as is.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import EventBatch


def keep_lowest_copies[T](
    items: Sequence[T], identity: Callable[[T], Hashable], position: Callable[[T], tuple[str, int, int]]
) -> tuple[list[T], int]:
    """``items`` with one copy per identity, the lowest ``position`` kept (input order otherwise)."""
    first: dict[Hashable, int] = {}
    dropped: set[int] = set()
    for index, item in enumerate(items):
        key = identity(item)
        seen = first.get(key)
        if seen is None:
            first[key] = index
        elif position(item) < position(items[seen]):
            dropped.add(seen)
            first[key] = index
        else:
            dropped.add(index)
    if not dropped:
        return list(items), 0
    return [item for index, item in enumerate(items) if index not in dropped], len(dropped)


class FoldOperations:
    """Mixin of the message_aggregator node."""

    @operation(input=EventBatch)
    async def fold_duplicates(self, batch: EventBatch, step: StepContext) -> EventBatch:
        """Keep one copy of each envelope id (the module docstring's rule); count the others."""
        events = batch.events
        if len({event[0] for event in events}) == len(events):  # no duplicate: one pass, in C mostly
            return batch
        kept, folded = keep_lowest_copies(events, lambda e: e[0], lambda e: (e[1], e[2], e[3]))
        batch.events = kept
        batch.folded += folded
        batch.duplicates += folded
        return batch


__all__ = ["FoldOperations", "keep_lowest_copies"]
