"""``TracingManager``: the original guide's tracing object, over one ``TracerProvider``.

Each method delegates to the module that owns the behaviour (``spans`` for operation spans,
``propagation`` for trace context); the manager only binds them to its provider, so spans
opened through it go to that provider's exporters whatever the global provider is.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from omnibase_infra.observability.propagation import extract_trace_context, inject_trace_context
from omnibase_infra.observability.spans import KafkaOperation, trace_database_operation, trace_kafka_operation

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span


class TracingManager:
    """Operation spans and trace-context helpers bound to ``provider``."""

    inject_trace_context = staticmethod(inject_trace_context)
    extract_trace_context = staticmethod(extract_trace_context)

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider

    @property
    def provider(self) -> TracerProvider:
        return self._provider

    def trace_database_operation(
        self,
        operation_type: str | None = None,
        statement: str | None = None,
        *,
        query: str | None = None,
        collection: str | None = None,
        operation_name: str | None = None,
        correlation_id: UUID | str | None = None,
        batch_size: int | None = None,
        parent: Context | None = None,
    ) -> AbstractAsyncContextManager[Span]:
        """``spans.trace_database_operation`` on this provider (``operation_type="query", query=SQL``)."""
        return trace_database_operation(
            operation_type,
            statement,
            query=query,
            collection=collection,
            operation_name=operation_name,
            correlation_id=correlation_id,
            batch_size=batch_size,
            parent=parent,
            tracer_provider=self._provider,
        )

    def trace_kafka_operation(
        self,
        operation_type: KafkaOperation,
        topic: str,
        *,
        partition: int | None = None,
        offset: int | None = None,
        key: str | bytes | None = None,
        correlation_id: UUID | str | None = None,
        parent: Context | None = None,
        links: Sequence[Context] = (),
    ) -> AbstractAsyncContextManager[Span]:
        """``spans.trace_kafka_operation`` on this provider (``"produce"`` is ``"send"``)."""
        return trace_kafka_operation(
            operation_type,
            topic,
            partition=partition,
            offset=offset,
            key=key,
            correlation_id=correlation_id,
            parent=parent,
            links=links,
            tracer_provider=self._provider,
        )

    def force_flush(self) -> bool:
        """Export every ended span now; blocks (call it off the event loop)."""
        return self._provider.force_flush()

    def shutdown(self) -> None:
        """Flush and stop the provider's exporters; idempotent (the SDK's guarantee)."""
        self._provider.shutdown()


__all__ = ["TracingManager"]
