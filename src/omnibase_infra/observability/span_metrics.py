"""A span processor that turns ended spans into ``omnibase_span_duration_seconds`` observations.

It sees sampled spans only (an unsampled span is never recorded, so never ends here):
counts are those of the sample, while ratios and durations stay representative. Span
names in this service are bounded (``send <topic>``, ``INSERT <table>``...), so the
``span_name`` label does not grow without bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

if TYPE_CHECKING:
    from omnibase_infra.observability.metrics import InfraMetrics

_STATUS = {StatusCode.OK: "ok", StatusCode.ERROR: "error", StatusCode.UNSET: "unset"}


class MetricsSpanProcessor(SpanProcessor):
    """Records each ended span's duration, kind and status in ``InfraMetrics``; never raises."""

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

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


__all__ = ["MetricsSpanProcessor"]
