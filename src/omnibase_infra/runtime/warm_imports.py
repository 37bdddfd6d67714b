"""Imports the service needs only once its start-up I/O is done, run in a thread while that I/O waits.

``InfraService`` starts the PostgreSQL pool, the producers and the group join, then the
consumer loop, then HTTP (aiohttp) and tracing (OpenTelemetry's SDK). Imported in the
event loop's thread, those modules would delay the first fetch by their import time;
imported by ``warm()`` in a thread started as the start-up I/O begins, they load while the
event loop waits on the servers (the GIL is free then), and the service's own import of
them later finds them loaded. A module the thread fails to import is left to that later
import, which raises as it always did.

Two threads importing at once can only fail on a cycle (each holding a module the other
waits for: Python's ``_DeadlockError``). The event loop's thread imports only the producer
pool's adapter and its TLS probe lazily during that I/O; nothing listed here imports them,
so keep this list to modules that import no module the start-up imports lazily.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterable

AFTER_STARTUP_IO = (
    "omnibase_infra.observability.tracing",
    "omnibase_infra.observability.tracing_manager",
    "omnibase_infra.observability.span_metrics",
    "omnibase_infra.observability.http_server",
)
"""What ``InfraService._start`` imports after its start-up I/O (tracing, then HTTP)."""


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        with contextlib.suppress(Exception):  # the service's own import reports it
            importlib.import_module(name)


def warm(modules: Iterable[str] = AFTER_STARTUP_IO) -> threading.Thread:
    """Import ``modules`` in a daemon thread (started); the caller need not wait for it."""
    thread = threading.Thread(
        target=_import_all, args=(tuple(modules),), name="onex-warm-imports", daemon=True
    )
    thread.start()
    return thread


__all__ = ["AFTER_STARTUP_IO", "warm"]
