"""The servers' CPU in the bench: pids from a ``scripts/services`` state dir, CPU with the children's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from omnibase_infra.bench.cpu import (
    CLOCK_TICKS,
    ServerCpu,
    ServerPids,
    process_cpu_seconds,
    server_cpu_seconds,
)

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
BURN_THEN_WAIT = BURN + "import sys\nsys.stdin.read()\n"


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_pids_are_those_services_status_names_while_they_run_the_server(tmp_path: Path) -> None:
    """A pid is kept only while its process's command line names the server: this test's own
    interpreter stands for "postgres" when its script's path says so, and is no broker."""
    script = tmp_path / "postgres-stand-in.py"
    script.write_text("import sys\nsys.stdin.read()\n")
    stand_in = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        # Popen returns while the exec may still be under way (an empty command line).
        while script.name.encode() not in Path(f"/proc/{stand_in.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the stand-in never showed its command line"
            time.sleep(0.01)
        status = (
            f"postgres  up    PostgreSQL 15.18  127.0.0.1:27432  pid {stand_in.pid}  data /d\n"
            f"kafka     up    Apache Kafka 3.9.1 (KRaft)  127.0.0.1:29092  pid {stand_in.pid}\n"
        )
        assert ServerPids.from_status(status) == ServerPids(broker=None, postgres=stand_in.pid)
    finally:
        stand_in.communicate(b"")


def test_servers_down_or_gone_give_no_pid() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    status = f"postgres  down  no process\nkafka     up    Apache Kafka 3.9.1  pid {gone.pid}\n"

    assert ServerPids.from_status(status) == ServerPids(broker=None, postgres=None)


def test_a_server_counts_the_cpu_of_its_live_and_its_reaped_children() -> None:
    """This process stands for a server: a child that is still running (not yet waited for)
    and one already reaped both add their CPU to it, on top of its own."""
    own_before = process_cpu_seconds(os.getpid())
    before = server_cpu_seconds(os.getpid())
    assert before is not None
    subprocess.run([sys.executable, "-c", BURN], check=True)  # reaped: in cutime
    running = subprocess.Popen([sys.executable, "-c", BURN_THEN_WAIT], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while (server_cpu_seconds(running.pid) or 0.0) < 0.25:
            assert running.poll() is None, "the running child ended early"
            assert time.monotonic() < deadline, "the running child never burnt 0.25 s"
            time.sleep(0.01)
        after = server_cpu_seconds(os.getpid())
        own_after = process_cpu_seconds(os.getpid())
    finally:
        running.communicate(b"")
    assert after is not None
    children = (after - before) - (own_after - own_before)
    # 0.3 s reaped plus at least 0.25 s live; without either, at most 0.3 s (ticks of 10 ms).
    assert children >= 0.5


def test_a_gone_server_has_no_figure() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()

    assert server_cpu_seconds(gone.pid) is None
    cpu = ServerCpu(ServerPids(broker=gone.pid, postgres=None))
    assert cpu.figures(100, "command") == {}


def test_figures_are_the_servers_cpu_per_unit() -> None:
    """The test process stands for the broker: what it burns between construction and
    ``figures`` is reported per unit, under the unit's name; PostgreSQL, unknown, is left out."""
    cpu = ServerCpu(ServerPids(broker=os.getpid(), postgres=None))
    burn(0.3)

    figures = cpu.figures(1000, "event")

    assert set(figures) == {"broker_cpu_us_per_event"}
    # /proc counts user and system time in whole ticks, each rounded down: up to two ticks less.
    assert figures["broker_cpu_us_per_event"] >= (0.3 - 2 / CLOCK_TICKS) / 1000 * 1e6 - 1e-6
