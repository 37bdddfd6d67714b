"""Cases 2 and 6: the real service (``onex-infra run``) as a subprocess, measured from outside.

Cases 5 and 5b (the outbox relay) are in ``outbox_cases``.

"Row committed" is the commit time of the row's transaction
(``pg_xact_commit_timestamp(xmin)``) when ``track_commit_timestamp`` is on, otherwise the
row's ``stored_at`` (its transaction's start, a few milliseconds earlier).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

from omnibase_infra.bench import profiling
from omnibase_infra.bench.cpu import MachineCpu, ServerCpu, ServerPids, process_cpu_seconds
from omnibase_infra.bench.workload import Dataset, Progress, committed_total

ONEX_INFRA = str(Path(sys.executable).parent / "onex-infra")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of ``pid`` in KiB (empty when the process is gone)."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    found[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return found


@dataclass
class BenchTopics:
    store: str
    latency: str
    command: str
    completed: str
    failed: str
    state: str
    outbox: str
    floor: str
    latency_high: str
    floor_high: str


@dataclass
class ServiceProcess:
    """One ``onex-infra run`` with its environment, log and resource samples."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    rss_max_kib: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)
    # (time, CPU seconds so far), sampled with the RSS: the CPU spent before a given moment.
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        base_env: dict[str, str],
        schema: str,
        topics: BenchTopics,
        group: str,
        log_path: Path,
        environment: str,
    ) -> ServiceProcess:
        env = dict(base_env)
        env.update(
            ENVIRONMENT=environment,
            POSTGRES_SCHEMA=schema,
            KAFKA_CONSUMER_GROUP=group,
            ONEX_EVENT_STORE_TOPICS=f"{topics.store},{topics.latency},{topics.latency_high}",
            ONEX_COMMAND_TOPIC=topics.command,
            ONEX_OPERATION_COMPLETED_TOPIC=topics.completed,
            ONEX_OPERATION_FAILED_TOPIC=topics.failed,
            ONEX_STATE_CHANGED_TOPIC=topics.state,
            ONEX_OUTBOX_TOPICS=topics.outbox,  # case 5's rows: the topic ACL relays only declared topics
            HEALTH_CHECK_PORT=str(free_port()),
            PROMETHEUS_METRICS_PORT=str(free_port()),
            HEALTH_CHECK_HOST="127.0.0.1",
        )
        return cls(env, log_path)

    def migrate(self) -> None:
        done = subprocess.run(
            [ONEX_INFRA, "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"onex-infra db migrate failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.started_at = time.time()
            self.proc = subprocess.Popen(
                [ONEX_INFRA, "run"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return int(self.proc.pid)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-30:]
            raise RuntimeError(f"service exited {self.proc.returncode}:\n" + "\n".join(tail))

    async def sample_memory(self, stop: asyncio.Event, every: float = 0.25) -> None:
        while not stop.is_set():
            rss = proc_status(self.pid).get("VmRSS", 0)
            self.rss_max_kib = max(self.rss_max_kib, rss)
            self.samples.append((time.time(), rss))
            self.cpu_samples.append((time.time(), process_cpu_seconds(self.pid)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    def stop(self, timeout: float = 60.0) -> tuple[int, float]:
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return int(code), time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


class ProtocolCheckedAlive(Protocol):
    def check_alive(self) -> None:
        """Raise when the process (or one of the processes) exited."""
        ...


async def wait_committed(
    service: ProtocolCheckedAlive,
    bootstrap: str,
    group: str,
    topics: set[str],
    want: int,
    within: float,
    progress: Progress,
    label: str,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + within
        next_report = time.monotonic() + 2.0
        done = 0
        while time.monotonic() < deadline:
            service.check_alive()
            try:
                done = await committed_total(admin, group, topics)
            except Exception:  # the group may not exist yet
                done = 0
            if done >= want:
                return
            if time.monotonic() >= next_report:
                next_report += 2.0
                progress(f"{label}: {done:,}/{want:,} committed")
            await asyncio.sleep(0.25)
        raise RuntimeError(f"{label}: only {done:,}/{want:,} committed after {within:.0f}s")
    finally:
        await admin.close()


SERVICE_STARTING = "service starting"
"""What the service logs once its imports and the contracts' validation are done (runtime.service)."""


def logged_at(log_path: Path, message: str) -> float | None:
    """The time (epoch seconds) of the last JSON log line of ``log_path`` whose message is ``message``."""
    found: float | None = None
    with contextlib.suppress(OSError):
        for line in log_path.read_text(errors="replace").splitlines():
            if f'"message":"{message}"' not in line.replace('": "', '":"'):
                continue
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                found = datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp()
    return found


def committed_expr(commit_ts: bool) -> str:
    return "pg_xact_commit_timestamp(xmin)" if commit_ts else "stored_at"


async def stored_span(
    servers_dsn: str, schema: str, data: Dataset, commit_ts: bool
) -> tuple[int, float, float]:
    """(rows, first commit, last commit) of ``data``'s topic in ``schema``; every row must be there."""
    conn = await asyncpg.connect(servers_dsn, server_settings={"search_path": schema})
    try:
        expr = committed_expr(commit_ts)
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, extract(epoch FROM min({expr})) AS first, "
            f"extract(epoch FROM max({expr})) AS last FROM onex_event_store WHERE topic = $1",
            data.topic,
        )
    finally:
        await conn.close()
    assert row is not None
    n, first, last = int(row["n"]), float(row["first"]), float(row["last"])
    if n != len(data.values):
        raise RuntimeError(f"event store holds {n:,} rows of {data.topic}, expected {len(data.values):,}")
    return n, first, last


async def throughput(
    service: ServiceProcess,
    servers_dsn: str,
    schema: str,
    bootstrap: str,
    group: str,
    data: Dataset,
    commit_ts: bool,
    progress: Progress,
    profile_seconds: float = 0.0,
    server_pids: ServerPids | None = None,
) -> dict[str, float]:
    """Case 2 (+6): start the service on the pre-loaded topic; time start → last row committed.

    With ``server_pids`` (local servers), the broker's and PostgreSQL's CPU per event too."""
    stop_sampling = asyncio.Event()
    machine = MachineCpu()
    servers = ServerCpu(server_pids) if server_pids is not None else None
    service.start()
    sampler = asyncio.create_task(service.sample_memory(stop_sampling))
    profiler = None
    if profile_seconds > 0:
        await asyncio.sleep(6)  # past start-up, into the steady state
        profiler = profiling.start(service.pid, profile_seconds, service.log_path.with_name("profile.txt"))
        progress("2 event store: py-spy attached" if profiler else "2 event store: py-spy not found")
    try:
        await wait_committed(
            service,
            bootstrap,
            group,
            {data.topic},
            len(data.values),
            within=120 + len(data.values) / 1000,
            progress=progress,
            label="2 event store",
        )
    finally:
        stop_sampling.set()
        await sampler
        if profiler is not None:
            profiler.wait(timeout=profile_seconds + 60)
    machine_figures = machine.figures(len(data.values))
    server_figures = servers.figures(len(data.values), "event") if servers is not None else {}
    cpu = process_cpu_seconds(service.pid)
    hwm = proc_status(service.pid).get("VmHWM", 0)
    n, first, last = await stored_span(servers_dsn, schema, data, commit_ts)
    elapsed = last - service.started_at
    service_start = logged_at(service.log_path, SERVICE_STARTING)
    # Start-up (imports, connections, group join) is a fixed cost; after the first commit
    # the CPU is the per-event cost alone (over every event: the first batch's is a rounding).
    before_first = max((c for t, c in service.cpu_samples if t <= first), default=0.0)
    return {
        "events": float(n),
        "seconds": elapsed,
        "events_per_s": n / elapsed,
        "startup_to_first_commit_s": first - service.started_at,
        **(
            {
                "process_to_service_start_s": service_start - service.started_at,
                "service_start_to_first_commit_s": first - service_start,
            }
            if service_start is not None
            else {}
        ),
        "steady_events_per_s": n / (last - first) if last > first else 0.0,
        "service_cpu_s": cpu,
        "service_cpu_us_per_event": cpu / n * 1e6,
        "steady_cpu_us_per_event": (cpu - before_first) / n * 1e6,
        **machine_figures,
        **server_figures,
        "rss_peak_mib": hwm / 1024,
        "rss_sampled_max_mib": service.rss_max_kib / 1024,
    }


def rss_after(service: ServiceProcess) -> dict[str, float]:
    status = proc_status(service.pid)
    return {"rss_mib": status.get("VmRSS", 0) / 1024, "rss_peak_mib": status.get("VmHWM", 0) / 1024}


def memory_series(service: ServiceProcess) -> list[tuple[float, float]]:
    return [(round(t - service.started_at, 2), round(kib / 1024, 1)) for t, kib in service.samples]


def summary_of(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
