"""Runs the real service (`onex-infra run`) as a subprocess for integration tests.

Nothing is mocked: the process talks to the PostgreSQL and Kafka started by
``scripts/services``; each test gets its own schema, topics, consumer group and ports.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import RecordMetadata
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

REPO_ROOT = Path(__file__).resolve().parents[3]
ONEX_INFRA = str(Path(sys.executable).parent / "onex-infra")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_envelope(
    payload: dict[str, JsonValue],
    *,
    event_type: str = "test.event",
    correlation_id: uuid.UUID | None = None,
) -> ModelEventEnvelope[JsonValue]:
    return ModelEventEnvelope[JsonValue](
        payload=payload, event_type=event_type, correlation_id=correlation_id or uuid.uuid4()
    )


def encode(envelope: ModelEventEnvelope[JsonValue]) -> bytes:
    return envelope.model_dump_json(exclude_none=True).encode("utf-8")


@dataclass
class ServiceTopics:
    store: str
    command: str
    completed: str
    failed: str
    state: str


@dataclass
class ServiceProcess:
    """One `onex-infra run` process with its environment and log file."""

    env: dict[str, str]
    log_path: Path
    health_port: int
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None
    exits: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    def migrate(self) -> None:
        done = subprocess.run(
            [ONEX_INFRA, "db", "migrate"],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"db migrate failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([ONEX_INFRA, "run"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    async def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"service exited {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    async with session.get(f"{self.base_url}/ready") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"service not ready after {within}s:\n{self.log_tail()}")

    async def get_json(self, path: str) -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as session, session.get(self.base_url + path) as response:
            return response.status, json.loads(await response.text())

    async def metric(self, name: str) -> float | None:
        """The value of a metric labelled only by ``environment`` on ``/metrics`` (None: absent)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> tuple[int, float]:
        """Send ``sig`` and wait; return (exit code, seconds it took)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.exits.append(code)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def service_env(
    *, schema: str, topics: ServiceTopics, group: str, health_port: int, metrics_port: int
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ENVIRONMENT": "development",
            "POSTGRES_SCHEMA": schema,
            "KAFKA_CONSUMER_GROUP": group,
            "ONEX_EVENT_STORE_TOPICS": topics.store,
            "ONEX_COMMAND_TOPIC": topics.command,
            "ONEX_OPERATION_COMPLETED_TOPIC": topics.completed,
            "ONEX_OPERATION_FAILED_TOPIC": topics.failed,
            "ONEX_STATE_CHANGED_TOPIC": topics.state,
            "HEALTH_CHECK_PORT": str(health_port),
            "PROMETHEUS_METRICS_PORT": str(metrics_port),
            "HEALTH_CHECK_INTERVAL": "0.5",
            "LOG_LEVEL": "INFO",
        }
    )
    return env


async def produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    *,
    partitions: int | None = None,
    keys: list[bytes | None] | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    compression_type: str | None = None,
) -> list[RecordMetadata]:
    """Send ``values`` (round-robin over ``partitions`` when given, each with ``headers``,
    compressed with ``compression_type``) and wait for every ack; return where each record
    landed, in order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, compression_type=compression_type
    )
    await producer.start()
    try:
        futures = []
        for i, value in enumerate(values):
            partition = i % partitions if partitions else None
            key = keys[i] if keys else None
            futures.append(await producer.send(topic, value, key=key, partition=partition, headers=headers))
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, topic: str, *, expect: int, within: float = 60.0) -> list[object]:
    """Read ``topic`` from the beginning until ``expect`` records arrived (or time runs out)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[object] = []
    try:
        deadline = time.monotonic() + within
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for items in batch.values():
                records.extend(items)
    finally:
        await consumer.stop()
    return records


CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}  # record batch attributes, bits 0-2


async def stored_batch_codecs(bootstrap: str, topic: str) -> list[str]:
    """The codec of every record batch the broker holds for ``topic`` (all partitions), as served.

    A raw Fetch (the consumer would decompress without saying how): the batch header's
    compression attribute is what the producer wrote, since the topic keeps the producer's codec.
    """
    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="onex-test-codecs")
    await client.bootstrap()
    try:
        await client.force_metadata_update()
        codecs: list[str] = []
        for partition in sorted(client.cluster.partitions_for_topic(topic) or ()):
            leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
            request = FetchRequest(
                max_wait_time=100,
                min_bytes=1,
                max_bytes=16 << 20,
                isolation_level=0,
                topics=[(topic, [(partition, 0, 16 << 20)])],
            )
            response = await client.send(leader, request)
            for _, partition_data in response.topics:
                for _, error_code, _, *data in partition_data:
                    assert error_code == 0, f"fetch {topic}[{partition}]: error {error_code}"
                    records = MemoryRecords(data[-1])
                    while (batch := records.next_batch()) is not None:
                        codecs.append(CODECS[batch.compression_type])
        return codecs
    finally:
        await client.close()


async def reset_group_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    """Commit offset 0 on every partition of ``topic`` for ``group`` (reset to earliest)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.commit({tp: 0 for tp in tps})
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        result: dict[int, int | None] = {}
        for p in range(partitions):
            result[p] = await consumer.committed(TopicPartition(topic, p))
        return result
    finally:
        await consumer.stop()


async def create_topics(
    bootstrap: str, topics: dict[str, int], *, client_id: str = "onex-test-admin"
) -> None:
    """Create ``topics`` (name → partitions, replication 1) with the admin client."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name, partitions in topics.items()])
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefixes: list[str], *, client_id: str = "onex-test-admin") -> None:
    """Delete every topic whose name starts with one of ``prefixes``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if any(t.startswith(p) for p in prefixes)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def recreate_topics(bootstrap: str, topics: dict[str, int], *, within: float = 30.0) -> None:
    """Delete ``topics`` if they exist, wait until they are gone, then create them empty.

    For the fixed topic names a contract file declares (the file is used as it is).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="onex-test-admin")
    await admin.start()
    try:
        names = set(topics)
        doomed = [t for t in await admin.list_topics() if t in names]
        if doomed:
            await admin.delete_topics(doomed)
        deadline = time.monotonic() + within
        while names & set(await admin.list_topics()):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"topics {sorted(names)} were not deleted within {within} s")
            await asyncio.sleep(0.2)
        await admin.create_topics([NewTopic(name, partitions, 1) for name, partitions in topics.items()])
    finally:
        await admin.close()
