"""The original guide's tracing entry points: ``initialize_distributed_tracing()``, ``get_tracing_manager()``.

Both return the process's ``TracingManager`` (``observability.tracing_manager``), configured
once from the ``OTEL_*`` variables by ``runtime.process_services``; in ``onex-infra run`` it is
the service's own. The set-up itself is ``observability.tracing.configure_tracing``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omnibase_infra.observability.tracing_manager import TracingManager


async def initialize_distributed_tracing() -> TracingManager:
    """Configure the process's tracing if it is not yet (idempotent) and return its manager.

    ``ConfigurationError`` for a bad ``OTEL_*`` (or other service) variable.
    """
    return get_tracing_manager()


def get_tracing_manager() -> TracingManager:
    """The process's tracing manager, configured on first use."""
    from omnibase_infra.runtime.process_services import process_tracing

    return process_tracing()


__all__ = ["get_tracing_manager", "initialize_distributed_tracing"]
