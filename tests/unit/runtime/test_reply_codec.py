"""postgres_adapter's direct reply encoder writes the model path's bytes (Hypothesis).

``reply_codec.encode_reply`` replaces ``workflow.envelopes.encode_reply`` (validate a
``ModelEventEnvelope``, inject the trace context, ``model_dump_json``) in the service; for
generated requests, replies (completed with any JSON rows, failed with every error kind) and
trace contexts (none, sampled or not, with a ``tracestate``) both give the same bytes.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from pydantic import JsonValue, TypeAdapter

from omnibase_infra.models.model_operation_reply import (
    COMPLETED_EVENT_TYPE,
    FAILED_EVENT_TYPE,
    ErrorKind,
    ModelOperationError,
    ModelOperationReply,
    reply_id_for,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.reply_codec import encode_reply, encode_reply_at
from omnibase_infra.workflow.envelopes import _envelope
from omnibase_infra.workflow.envelopes import encode_reply as model_encode_reply

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),  # NaN and ±infinity too: both paths must write them as null
        st.text(max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)
rows = st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=3)
errors = st.builds(
    ModelOperationError,
    kind=st.sampled_from(get_args(ErrorKind)),
    message=st.text(max_size=20),
    sqlstate=st.one_of(st.none(), st.from_regex(r"\A[0-9A-Z]{5}\Z")),
)
replies = st.one_of(
    st.builds(
        lambda op, r: ModelOperationReply(operation=op, status="completed", row_count=len(r), rows=r),
        st.text(min_size=1, max_size=10),
        rows,
    ),
    st.builds(
        lambda op, e: ModelOperationReply(operation=op, status="failed", error=e),
        st.text(max_size=10),
        errors,
    ),
)
requests = st.builds(
    lambda envelope_id, correlation_id, tenant_id: _envelope(
        payload={"operation": "get_event_by_id", "parameters": {}},
        envelope_id=envelope_id,
        correlation_id=correlation_id,
        tenant_id=tenant_id,
    ),
    st.uuids(),
    st.one_of(st.none(), st.uuids()),
    st.one_of(st.none(), st.text(min_size=1, max_size=8).filter(str.strip)),
)
span_contexts = st.one_of(
    st.none(),
    st.builds(
        lambda trace_id, span_id, sampled, state: SpanContext(
            trace_id,
            span_id,
            is_remote=False,
            trace_flags=TraceFlags(1 if sampled else 0),
            trace_state=TraceState(state),
        ),
        st.integers(min_value=1, max_value=2**128 - 1),
        st.integers(min_value=1, max_value=2**64 - 1),
        st.booleans(),
        st.sampled_from([[], [("vendor", "value")], [("a", "1"), ("b", "2")]]),
    ),
)
_TIMESTAMP = TypeAdapter(datetime)


@settings(max_examples=300, deadline=None)
@given(requests, replies, span_contexts)
def test_the_direct_encoder_writes_the_models_bytes(
    request: object, reply: ModelOperationReply, span_context: SpanContext | None
) -> None:
    reply_id = reply_id_for(request.envelope_id)  # type: ignore[attr-defined]
    event_type = COMPLETED_EVENT_TYPE if reply.status == "completed" else FAILED_EVENT_TYPE
    span = trace.INVALID_SPAN if span_context is None else NonRecordingSpan(span_context)
    with trace.use_span(span):
        expected = model_encode_reply(request, reply, reply_id, event_type)  # type: ignore[arg-type]
        at = _TIMESTAMP.validate_python(json.loads(expected)["envelope_timestamp"])
        assert encode_reply_at(request, reply, reply_id, event_type, at) == expected  # type: ignore[arg-type]
        fresh = json.loads(encode_reply(request, reply, reply_id, event_type))  # type: ignore[arg-type]
    assert fresh.keys() == json.loads(expected).keys()
    assert fresh["envelope_timestamp"].endswith("Z")


def test_a_reply_with_a_trace_carries_it_in_the_metadata_and_the_ids() -> None:
    context = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1))
    request = _envelope(payload={}, envelope_id=uuid.uuid4(), correlation_id=uuid.uuid4())
    reply = ModelOperationReply(operation="x", status="completed", rows=[{"a": None}], row_count=1)
    with trace.use_span(NonRecordingSpan(context)):
        value: dict[str, JsonValue] = json.loads(
            encode_reply(request, reply, uuid.uuid4(), COMPLETED_EVENT_TYPE)
        )
    assert value["metadata"] == {
        "trace_id": f"{0xABC:032x}",
        "span_id": f"{0xDEF:016x}",
        "headers": {"traceparent": f"00-{0xABC:032x}-{0xDEF:016x}-01"},
        "tags": {},
    }
    assert value["trace_id"] == str(uuid.UUID(int=0xABC))
    assert value["payload"] == {
        "operation": "x",
        "status": "completed",
        "row_count": 1,
        "rows": [{"a": None}],
    }
