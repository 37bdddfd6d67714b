"""The cyclic garbage collector during start-up: relaxed while the process imports and builds.

``onex-infra run`` imports about 1,400 modules before its first commit (omnibase-core's node
classes and their pydantic models, the adapters' clients) and builds the nodes: objects that
live as long as the process. With the default thresholds (700, 10, 10) the collector runs
hundreds of generation-0 passes and tens of older ones over them, about a tenth of
start-up's CPU, and frees next to nothing. ``relax()`` (``cli.run_command``, before the
imports) raises the thresholds for the start; ``settle()`` (``InfraService``, once started)
moves everything built so far into the permanent generation (``gc.freeze()``: the full
passes over it paused the event loop for 100-300 ms) and restores the thresholds the
process had, so the running service collects as it did. ``restore()`` (``run_service``
when it returns, whatever the outcome) only puts the thresholds back.
"""

from __future__ import annotations

import gc
import threading

STARTUP_THRESHOLDS = (100_000, 50, 100)
"""Generation 0 collects after 100,000 net allocations instead of 700 while starting."""


class _Relaxed:
    """The thresholds ``relax()`` replaced (None: not relaxed); the lock guards them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.previous: tuple[int, int, int] | None = None


_STATE = _Relaxed()


def relax() -> None:
    """Raise the collector's thresholds until ``settle()`` (a second call keeps the first's)."""
    with _STATE.lock:
        if _STATE.previous is None:
            _STATE.previous = gc.get_threshold()
            gc.set_threshold(*STARTUP_THRESHOLDS)


def restore() -> None:
    """Put back the thresholds ``relax()`` replaced, if any (a start that ended early)."""
    with _STATE.lock:
        previous, _STATE.previous = _STATE.previous, None
    if previous is not None:
        gc.set_threshold(*previous)


def settle() -> None:
    """Freeze what start-up built and restore the thresholds ``relax()`` replaced, if any."""
    gc.freeze()
    restore()


__all__ = ["STARTUP_THRESHOLDS", "relax", "restore", "settle"]
