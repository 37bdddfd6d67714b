"""The servers' CPU in the bench: pids from a ``scripts/services`` state dir, CPU with the children's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from omnibase_infra.bench.cpu import ServerCpu, ServerPids, server_cpu_seconds

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
BURN_THEN_WAIT = BURN + "import sys\nsys.stdin.read()\n"


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_pids_are_read_from_the_pid_files_services_writes(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "kafka.pid").write_text("4242\n")
    data = tmp_path / "postgres" / "data"
    data.mkdir(parents=True)
    (data / "postmaster.pid").write_text(f"5151\n{data}\n1796668416\n27432\n")

    assert ServerPids.in_state_dir(tmp_path) == ServerPids(broker=4242, postgres=5151)


def test_missing_or_garbled_pid_files_give_no_pid(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "kafka.pid").write_text("not a pid\n")

    assert ServerPids.in_state_dir(tmp_path) == ServerPids(broker=None, postgres=None)


def test_a_server_counts_the_cpu_of_its_live_and_its_reaped_children() -> None:
    """This process stands for a server: a child that is still running (not yet waited for)
    and one already reaped both add their CPU to it."""
    before = server_cpu_seconds(os.getpid())
    assert before is not None
    subprocess.run([sys.executable, "-c", BURN], check=True)  # reaped: in cutime
    running = subprocess.Popen([sys.executable, "-c", BURN_THEN_WAIT], stdin=subprocess.PIPE)
    try:
        deadline_cpu = 0.25
        while (server_cpu_seconds(running.pid) or 0.0) < deadline_cpu:
            pass
        after = server_cpu_seconds(os.getpid())
    finally:
        running.communicate(b"")
    assert after is not None
    # The two children burnt at least 0.3 + 0.25 s; this loop burnt some of its own too.
    assert after - before >= 0.5


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
    assert figures["broker_cpu_us_per_event"] >= 0.29 / 1000 * 1e6
