"""A span processor that turns ended spans into Prometheus observations.

Every ended span feeds ``omnibase_span_duration_seconds{span_name,kind,status}``. Spans that
ended without error also feed the latency histograms of the operations they wrap:

- a CLIENT span with ``db.system`` (``trace_database_operation``) →
  ``omnibase_db_operation_duration_seconds{operation}``, labelled with the contract
  operation (``onex.operation``) or else the SQL verb (``db.operation.name``);
- a PRODUCER ``send`` span (``trace_kafka_operation("send", T)``) →
  ``omnibase_kafka_publish_duration_seconds{topic=T}`` (the span ends at the broker's ack).

It sees sampled spans only (an unsampled span is never recorded, so never ends here):
counts are those of the sample, while ratios, durations and quantiles stay representative.
Span names, operations and topics in this service are bounded (``send <topic>``,
``INSERT <table>``...), so the labels do not grow without bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from omnibase_infra.observability.spans import (
    DB_OPERATION_NAME,
    DB_SYSTEM,
    MESSAGING_DESTINATION_NAME,
    MESSAGING_OPERATION_TYPE,
    ONEX_OPERATION,
)

if TYPE_CHECKING:
    from omnibase_infra.observability.metrics import InfraMetrics

_STATUS = {StatusCode.OK: "ok", StatusCode.ERROR: "error", StatusCode.UNSET: "unset"}


class MetricsSpanProcessor(SpanProcessor):
    """Records each ended span in ``InfraMetrics`` (see the module docstring); never raises."""

    def __init__(self, metrics: InfraMetrics) -> None:
        self._metrics = metrics

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if span.start_time is None or span.end_time is None:
            return
        seconds = max(span.end_time - span.start_time, 0) / 1e9
        kind = span.kind.name.lower()
        status = _STATUS.get(span.status.status_code, "unset")
        self._metrics.observe_span(span.name, kind, status, seconds)
        if status != "error":
            self._observe_operation(span, seconds)

    def _observe_operation(self, span: ReadableSpan, seconds: float) -> None:
        attributes = span.attributes or {}
        if span.kind is SpanKind.CLIENT and DB_SYSTEM in attributes:
            operation = attributes.get(ONEX_OPERATION) or attributes.get(DB_OPERATION_NAME)
            if isinstance(operation, str):
                self._metrics.observe_db_operation(operation, seconds)
        elif span.kind is SpanKind.PRODUCER and attributes.get(MESSAGING_OPERATION_TYPE) == "send":
            topic = attributes.get(MESSAGING_DESTINATION_NAME)
            if isinstance(topic, str):
                self._metrics.observe_kafka_publish(topic, seconds)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


__all__ = ["MetricsSpanProcessor"]
