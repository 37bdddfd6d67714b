"""Case 2b: the event store with N instances of the service in one consumer group.

Kafka scales a consumer by partitions: instances in one group share a topic's
partitions, each with its own process (its own core). This case starts N
``onex-infra run`` processes on the pre-loaded topic, in a fresh schema and a fresh
group, and times start → last row committed, as case 2 does for one instance.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg

from omnibase_infra.bench.cpu import MachineCpu, process_cpu_seconds
from omnibase_infra.bench.service_cases import (
    BenchTopics,
    ServiceProcess,
    proc_status,
    stored_span,
    wait_committed,
)
from omnibase_infra.bench.workload import Dataset, Progress


async def scale_out(
    base_env: dict[str, str],
    servers_dsn: str,
    schema: str,
    topics: BenchTopics,
    bootstrap: str,
    data: Dataset,
    commit_ts: bool,
    instances: int,
    work: Path,
    environment: str,
    progress: Progress,
) -> dict[str, float]:
    scaled_schema = f"{schema}_scale"
    group = f"{scaled_schema}-group"
    services = [
        ServiceProcess.create(
            base_env, scaled_schema, topics, group, work / f"service-scale-{i}.log", environment
        )
        for i in range(instances)
    ]
    services[0].migrate()
    machine = MachineCpu()
    for service in services:
        service.start()
    try:
        await wait_committed(
            _Instances(services),
            bootstrap,
            group,
            {data.topic},
            len(data.values),
            within=120 + len(data.values) / 1000,
            progress=progress,
            label=f"2b {instances} instances",
        )
        machine_figures = machine.figures(len(data.values))
        cpu = sum(process_cpu_seconds(service.pid) for service in services)
        peak_kib = max(proc_status(service.pid).get("VmHWM", 0) for service in services)
    finally:
        for service in services:
            service.stop()
    n, first, last = await stored_span(servers_dsn, scaled_schema, data, commit_ts)
    conn = await asyncpg.connect(servers_dsn)
    try:
        await conn.execute(f'DROP SCHEMA "{scaled_schema}" CASCADE')
    finally:
        await conn.close()
    started = min(service.started_at for service in services)
    return {
        "instances": float(instances),
        "events": float(n),
        "seconds": last - started,
        "events_per_s": n / (last - started),
        "startup_to_first_commit_s": first - started,
        "steady_events_per_s": n / (last - first) if last > first else 0.0,
        "service_cpu_us_per_event": cpu / n * 1e6,
        **machine_figures,
        "rss_peak_mib_per_instance": peak_kib / 1024,
    }


class _Instances:
    def __init__(self, services: list[ServiceProcess]) -> None:
        self._services = services

    def check_alive(self) -> None:
        for service in self._services:
            service.check_alive()
