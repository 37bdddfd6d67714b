"""A batch's step spans continue its first traced record's trace and link the others."""

from __future__ import annotations

from opentelemetry import trace

from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.workflow_runner import (
    MAX_SPAN_LINKS,
    batch_trace,
)
from omnibase_infra.workflow.payloads import ConsumedBatch
from omnibase_infra.workflow.records import Partition, SourceRecord


def _traceparent(trace_id: int, span_id: int) -> tuple[str, bytes]:
    return ("traceparent", f"00-{trace_id:032x}-{span_id:016x}-01".encode())


def _ids(context: object) -> tuple[int, int]:
    span = trace.get_current_span(context)  # type: ignore[arg-type]  # an otel Context
    return span.get_span_context().trace_id, span.get_span_context().span_id


def test_the_first_traced_record_is_the_parent_and_the_others_are_links() -> None:
    p = Partition("onex.evt.a.b.v1", 0)
    records = [
        SourceRecord(p.topic, 0, 0, None, b"", ()),
        SourceRecord(p.topic, 0, 1, None, b"", (_traceparent(1, 11),)),
        SourceRecord(p.topic, 0, 2, None, b"", (_traceparent(2, 22),)),
    ]
    parent, links = batch_trace(ConsumedBatch({p: records}))
    assert parent is not None and _ids(parent) == (1, 11)
    assert [_ids(c) for c in links] == [(2, 22)]


def test_an_untraced_batch_starts_new_traces_and_only_the_first_records_are_looked_at() -> None:
    p = Partition("onex.evt.a.b.v1", 0)
    assert batch_trace(ConsumedBatch({p: [SourceRecord(p.topic, 0, 0, None, b"", ())]})) == (None, [])
    late = [SourceRecord(p.topic, 0, i, None, b"", ()) for i in range(MAX_SPAN_LINKS)]
    late.append(SourceRecord(p.topic, 0, MAX_SPAN_LINKS, None, b"", (_traceparent(3, 33),)))
    assert batch_trace(ConsumedBatch({p: late})) == (None, [])
