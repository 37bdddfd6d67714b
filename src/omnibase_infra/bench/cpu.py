"""CPU time from ``/proc``: of one process, and of the whole machine (every core) over a case.

The machine's busy time per event is what a case costs all processes together (the
service, PostgreSQL, the broker, the bench's own client): on a machine with ``nproc``
cores, no arrangement of those processes can go faster than ``nproc`` / (that cost).
"""

from __future__ import annotations

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_jiffies() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat", encoding="utf-8") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


class MachineCpu:
    """Busy CPU of the whole machine from construction to ``figures``."""

    def __init__(self) -> None:
        self._start = machine_jiffies()

    def figures(self, events: float) -> dict[str, float]:
        """Busy share of all cores, and busy CPU microseconds (all cores) per event."""
        busy, total = machine_jiffies()
        busy -= self._start[0]
        total -= self._start[1]
        return {
            "machine_cpu_busy_pct": 100 * busy / max(1.0, total),
            "machine_cpu_us_per_event": busy / CLOCK_TICKS / max(1.0, events) * 1e6,
        }
