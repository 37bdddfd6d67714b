"""CPU time from ``/proc``: of one process, of a server, and of the whole machine (every core) over a case.

The machine's busy time per event is what a case costs all processes together (the
service, PostgreSQL, the broker, the bench's own client): on a machine with ``nproc``
cores, no arrangement of those processes can go faster than ``nproc`` / (that cost).
``ServerCpu`` splits out the two servers' part when they run on this machine (the bench's
own, whose pids ``scripts/services status`` gives).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name: index 1 is the parent's pid, 11 to 14 utime,
    stime, cutime and cstime (in clock ticks). None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0.0 when it is gone)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def server_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of a server process and its children: its own, those of the children it has
    reaped (PostgreSQL's ended backends) and those of its live children. None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    total = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        child = _stat_fields(int(entry.name))
        if child is not None and child[1] == str(pid):  # field 4, the parent's pid
            total += sum(int(v) for v in child[11:15])
    return total / CLOCK_TICKS


@dataclass(frozen=True)
class ServerPids:
    """The pids of the local broker and PostgreSQL, as ``scripts/services status`` names them."""

    broker: int | None
    postgres: int | None

    @classmethod
    def from_status(cls, status: str) -> ServerPids:
        """From ``scripts/services status``'s lines (``postgres  up  ...  pid 23199  data ...``);
        a pid is kept only while its process is the server named (its command line says so)."""
        found: dict[str, int] = {}
        for line in status.splitlines():
            name, _, rest = line.partition(" ")
            match = _PID.search(rest)
            if name in ("kafka", "postgres") and match is not None:
                found[name] = int(match.group(1))
        return cls(
            broker=_running_as(found.get("kafka"), b"kafka"),
            postgres=_running_as(found.get("postgres"), b"postgres"),
        )


_PID = re.compile(r"\bpid (\d+)\b")


def _running_as(pid: int | None, word: bytes) -> int | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read()
    except OSError:
        return None
    return pid if word in command else None


class ServerCpu:
    """The broker's and PostgreSQL's CPU from construction to ``figures`` (each only when known)."""

    def __init__(self, pids: ServerPids) -> None:
        self._pids = {"broker": pids.broker, "postgres": pids.postgres}
        self._start = {name: _cpu(pid) for name, pid in self._pids.items()}

    def figures(self, count: float, unit: str) -> dict[str, float]:
        """``broker_cpu_us_per_<unit>`` and ``postgres_cpu_us_per_<unit>`` over ``count`` units."""
        result: dict[str, float] = {}
        for name, pid in self._pids.items():
            before, now = self._start[name], _cpu(pid)
            if before is not None and now is not None:
                result[f"{name}_cpu_us_per_{unit}"] = (now - before) / max(1.0, count) * 1e6
        return result


def _cpu(pid: int | None) -> float | None:
    return None if pid is None else server_cpu_seconds(pid)


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
