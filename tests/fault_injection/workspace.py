"""One scenario's private world: a schema, topics, and service processes on the fault servers."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from service_harness import ServiceProcess, ServiceTopics, free_port, service_env

from fault_injection.servers import FaultServers


class Workspace:
    """Schema ``f_<scenario>_<hex>``, topics ``onex.<kind>.faults-<scenario>.<hex>.v1``."""

    def __init__(
        self,
        servers: FaultServers,
        scenario: str,
        run_dir: Path,
        *,
        partitions: int = 6,
        environment: str = "development",
    ) -> None:
        self.servers = servers
        self.scenario = scenario
        self.run_dir = run_dir
        self.partitions = partitions
        self.environment = environment
        tag = uuid.uuid4().hex[:8]
        self.schema = f"f_{scenario.replace('-', '_')}_{tag}"
        domain = f"faults-{scenario}"
        self.topics = ServiceTopics(
            store=f"onex.evt.{domain}.{tag}.v1",
            command=f"onex.cmd.{domain}.{tag}.v1",
            completed=f"onex.evt.{domain}-completed.{tag}.v1",
            failed=f"onex.evt.{domain}-failed.{tag}.v1",
            state=f"onex.evt.{domain}-state.{tag}.v1",
        )
        # The topics the outbox relay may publish to (ONEX_OUTBOX_TOPICS); not created here.
        self.outbox_topic = f"onex.evt.{domain}-outbox.{tag}.v1"
        self.relay_topics = [self.outbox_topic]
        self.extra_env: dict[str, str] = {}  # e.g. ONEX_CONTRACTS_PATH for a tuned contract
        self.extra_topics: list[str] = []
        self.topic_partitions: dict[str, int] = {}
        self.group = f"onex-faults-{scenario}-{tag}"
        self.services: list[ServiceProcess] = []

    async def create(self) -> None:
        conn = await self.servers.connect()
        try:
            await conn.execute(f'CREATE SCHEMA "{self.schema}"')
        finally:
            await conn.close()
        await self.create_topic(self.topics.store, self.partitions)
        for topic in (self.topics.command, self.topics.completed, self.topics.failed, self.topics.state):
            await self.create_topic(topic, 1)

    async def create_topic(self, name: str, partitions: int) -> str:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.servers.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                described = await admin.describe_topics([name])
                parts = described[0]["partitions"] if described and not described[0]["error_code"] else []
                if len(parts) == partitions and all(p["leader"] >= 0 for p in parts):
                    break
                await asyncio.sleep(0.1)
        finally:
            await admin.close()
        if name not in self.extra_topics:
            self.extra_topics.append(name)
        self.topic_partitions[name] = partitions
        return name

    def new_service(self) -> ServiceProcess:
        """A migrated-on-first-use service process of this workspace (not started)."""
        index = len(self.services)
        health_port, metrics_port = free_port(), free_port()
        env = service_env(
            schema=self.schema,
            topics=self.topics,
            group=self.group,
            health_port=health_port,
            metrics_port=metrics_port,
        )
        env["ENVIRONMENT"] = self.environment
        env["ONEX_OUTBOX_TOPICS"] = ",".join(self.relay_topics)
        env.update(self.extra_env)
        process = ServiceProcess(
            env, self.run_dir / f"{self.scenario}-service-{index}.log", health_port, metrics_port
        )
        if not self.services:
            process.migrate()
        self.services.append(process)
        return process

    async def group_lag(self, topic: str | None = None) -> int:
        """Records of ``topic`` (the store topic) not yet committed by the service's group."""
        topic = topic or self.topics.store
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.servers.bootstrap, group_id=self.group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(self.topic_partitions[topic])]
            ends = await consumer.end_offsets(tps)
            lag = 0
            for tp in tps:
                committed = await consumer.committed(tp)
                lag += ends[tp] - (committed or 0)
            return lag
        finally:
            await consumer.stop()

    async def wait_lag_zero(self, within: float, topic: str | None = None) -> float | None:
        """Seconds until the group's lag on ``topic`` is 0, or None after ``within``."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            try:
                if await self.group_lag(topic) == 0:
                    return time.monotonic() - started
            except Exception:  # broker briefly unavailable: keep polling
                pass
            await asyncio.sleep(0.25)
        return None

    async def healthy(self, process: ServiceProcess) -> tuple[int, int]:
        """(/health status, /ready status) of ``process``."""
        codes: list[int] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for path in ("/health", "/ready"):
                try:
                    async with session.get(process.base_url + path) as response:
                        codes.append(response.status)
                except (aiohttp.ClientError, TimeoutError):
                    codes.append(0)
        return codes[0], codes[1]

    async def wait_healthy(self, process: ServiceProcess, within: float = 60.0) -> tuple[int, int]:
        deadline = time.monotonic() + within
        codes = (0, 0)
        while time.monotonic() < deadline:
            codes = await self.healthy(process)
            if codes == (200, 200):
                return codes
            await asyncio.sleep(0.5)
        return codes

    def stop_all(self) -> list[int]:
        """SIGTERM every running instance; their exit codes (each must be 0)."""
        codes = []
        for process in self.services:
            if process.proc is not None and process.proc.poll() is None:
                code, _ = process.stop(signal.SIGTERM, timeout=90)
                codes.append(code)
        return codes

    def kill_all(self) -> None:
        for process in self.services:
            process.kill()

    async def drop(self) -> None:
        """Remove the schema and every topic of this workspace (and their DLQs)."""
        self.kill_all()
        conn = await self.servers.connect()
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.servers.bootstrap)
        await admin.start()
        try:
            ours = set(self.extra_topics)
            existing = await admin.list_topics()
            doomed = [t for t in existing if t in ours or any(t.startswith(f"{o}.") for o in ours)]
            if doomed:
                await admin.delete_topics(doomed)
        finally:
            await admin.close()


__all__ = ["Workspace"]
