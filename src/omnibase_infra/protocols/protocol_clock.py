"""``ProtocolClock``: the injected source of time (the very type ``omnibase_infra.clock.Clock``).

Registered under this type so a node asks the container for time instead of
reading the system clock; tests register a ``FakeClock``.
"""

from __future__ import annotations

from omnibase_infra.clock import Clock

ProtocolClock = Clock

__all__ = ["ProtocolClock"]
