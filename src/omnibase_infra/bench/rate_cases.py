"""Case 3 and the soak: the running service under a fixed offered rate, timed from outside.

Latency is envelope timestamp (set just before the send) → row committed (see
``service_cases.committed_expr``); the Kafka-only floor is the same load read by a bare
aiokafka consumer; the soak samples RSS. Operations (cases 4, 4b) are in ``operation_cases``.
Cases 3 / 3a run at ``--latency-rate`` (2,000/s), 3b / 3c the same at
``--latency-high-rate`` (20,000/s). Each reports the rate its producer achieved (records
sent and acknowledged ÷ the time from the first send to the last acknowledgement) next
to the offered one: a producer that falls behind would otherwise hide in the figures.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # type: ignore[import-untyped]

from omnibase_infra.bench import profiling
from omnibase_infra.bench.service_cases import (
    ServiceProcess,
    committed_expr,
    proc_status,
    wait_committed,
)
from omnibase_infra.bench.workload import EVENT_TYPE, Progress, percentiles


class _PacedEnvelopes:
    """Bench envelopes built cheaply enough for 20,000/s from one Python thread.

    The same wire shape as ``workload.envelope``; the two ids are a random v4 UUID's first
    24 characters (one per case) followed by the sequence number in hex, so they are unique
    without the cost of ``uuid4()`` per record, and the timestamp is ``isoformat()`` (RFC
    3339, in C) taken as each record is built.
    """

    def __init__(self) -> None:
        self._ids = str(uuid.uuid4())[:24]
        self._correlations = str(uuid.uuid4())[:24]

    def value(self, seq: int) -> bytes:
        return (
            f'{{"payload":{{"seq":{seq},"data":"bench"}},"envelope_id":"{self._ids}{seq:012x}",'
            f'"envelope_timestamp":"{datetime.now(UTC).isoformat()}",'
            f'"correlation_id":"{self._correlations}{seq:012x}","event_type":"{EVENT_TYPE}"}}'
        ).encode()


async def send_paced(
    producer: AIOKafkaProducer,
    topic: str,
    partitions: int,
    rate: float,
    seconds: float,
    tick: Callable[[float, int], None] | None = None,
    pause: float = 0.002,
) -> int:
    """Send bench envelopes to ``topic`` at ``rate``/s for ``seconds``; return how many were sent.

    Partitions take turns; each envelope's timestamp is set as it is built, just before its
    send (what the latency cases measure from). What is due is built into one record batch
    per partition and handed to the producer at once (``send_batch``: no future per record),
    so the bench's own producer can offer 20,000/s beside the service on two cores.
    ``tick(elapsed, sent)`` runs between bursts.
    """
    envelopes = _PacedEnvelopes()
    sent = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            batches = [producer.create_batch() for _ in range(partitions)]
            while sent < due:
                if (
                    batches[sent % partitions].append(key=None, value=envelopes.value(sent), timestamp=None)
                    is None
                ):
                    break  # that partition's batch is full: send these, then go on
                sent += 1
            for partition, built in enumerate(batches):
                if built.record_count():
                    await producer.send_batch(built, topic, partition=partition)
        if tick is not None:
            tick(elapsed, sent)
        await asyncio.sleep(pause)
    return sent


async def latency(
    service: ServiceProcess,
    servers_dsn: str,
    schema: str,
    bootstrap: str,
    group: str,
    topic: str,
    partitions: int,
    rate: float,
    seconds: float,
    commit_ts: bool,
    progress: Progress,
    label: str = "3 latency",
    profile_seconds: float = 0.0,
    profile_out: Path | None = None,
) -> dict[str, float]:
    """Case 3 (3b): produce at ``rate``/s for ``seconds``; envelope timestamp (set at send) → commit.

    With ``profile_seconds``, py-spy samples the service from the fifth second on (``profile_out``).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()
    reports = [5.0]
    profiler: list[subprocess.Popen[bytes] | None] = []

    def report(elapsed: float, sent: int) -> None:
        if elapsed >= reports[0]:
            reports[0] += 5.0
            progress(f"{label}: {sent:,} sent at {rate:,.0f}/s")
            if profile_seconds > 0 and profile_out is not None and not profiler:
                profiler.append(profiling.start(service.pid, profile_seconds, profile_out))

    try:
        started = time.monotonic()
        sent = await send_paced(producer, topic, partitions, rate, seconds, report)
        await producer.flush()
        sending = time.monotonic() - started
    finally:
        await producer.stop()
    await wait_committed(service, bootstrap, group, {topic}, sent, within=120, progress=progress, label=label)
    for running in profiler:
        if running is not None:
            running.wait(timeout=profile_seconds + 60)
    conn = await asyncpg.connect(servers_dsn, server_settings={"search_path": schema})
    try:
        expr = committed_expr(commit_ts)
        delays = await conn.fetch(
            f"SELECT extract(epoch FROM {expr} - envelope_timestamp) * 1000 AS ms FROM onex_event_store "
            "WHERE topic = $1",
            topic,
        )
    finally:
        await conn.close()
    stats = percentiles([float(r["ms"]) for r in delays])
    return {
        "offered_per_s": rate,
        "achieved_per_s": sent / sending,
        "seconds": seconds,
        **{f"{k}_ms" if k != "count" else k: v for k, v in stats.items()},
    }


async def kafka_latency_floor(
    bootstrap: str,
    topic: str,
    partitions: int,
    rate: float,
    seconds: float,
    progress: Progress,
    label: str = "3a latency floor",
) -> dict[str, float]:
    """Case 3a (diagnostic): the same offered load, produce → a bare aiokafka consumer, no service.

    The floor the machine gives to any Kafka consumer at that moment; case 3 adds the
    service's work and the PostgreSQL commit on top of it.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()
    delays: list[float] = []
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for p in parts:
            await consumer.position(p)
        sent = 0
        done = asyncio.Event()

        async def receive() -> None:
            while not (done.is_set() and len(delays) >= sent):
                batch = await consumer.getmany(timeout_ms=100)
                now = time.time()
                for records in batch.values():
                    for r in records:
                        stamp = json.loads(r.value)["envelope_timestamp"]
                        delays.append((now - datetime.fromisoformat(stamp).timestamp()) * 1000)

        receiver = asyncio.create_task(receive())
        started = time.monotonic()
        sent = await send_paced(producer, topic, partitions, rate, seconds)
        await producer.flush()
        sending = time.monotonic() - started
        done.set()
        progress(f"{label}: {sent:,} sent")
        await asyncio.wait_for(receiver, 60)
    finally:
        await producer.stop()
        await consumer.stop()
    stats = percentiles(delays)
    return {
        "offered_per_s": rate,
        "achieved_per_s": sent / sending,
        "seconds": seconds,
        **{f"{k}_ms" if k != "count" else k: v for k, v in stats.items()},
    }


async def soak(
    service: ServiceProcess,
    bootstrap: str,
    group: str,
    topic: str,
    partitions: int,
    rate: float,
    seconds: float,
    progress: Progress,
) -> dict[str, float]:
    """Memory under a fixed offered rate for ``seconds``: RSS every 5 s, and its trend after minute one."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    await producer.start()
    samples: list[tuple[float, float]] = []
    next_sample = [0.0]

    def sample(elapsed: float, sent: int) -> None:
        if elapsed >= next_sample[0]:
            service.check_alive()
            samples.append((elapsed, proc_status(service.pid).get("VmRSS", 0) / 1024))
            if len(samples) % 12 == 0:
                progress(f"soak: {elapsed:,.0f}/{seconds:,.0f} s, RSS {samples[-1][1]:.1f} MiB")
            next_sample[0] += 5.0

    try:
        sent = await send_paced(producer, topic, partitions, rate, seconds, sample, pause=0.005)
        await producer.flush()
    finally:
        await producer.stop()
    await wait_committed(
        service, bootstrap, group, {topic}, sent, within=120, progress=progress, label="soak"
    )
    later = [(t, m) for t, m in samples if t >= 60.0] or samples
    n = len(later)
    mean_t = sum(t for t, _ in later) / n
    mean_m = sum(m for _, m in later) / n
    spread = sum((t - mean_t) ** 2 for t, _ in later)
    slope = sum((t - mean_t) * (m - mean_m) for t, m in later) / spread if spread else 0.0
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "events": float(sent),
        "rss_first_mib": samples[0][1] if samples else 0.0,
        "rss_at_60s_mib": later[0][1] if later else 0.0,
        "rss_last_mib": samples[-1][1] if samples else 0.0,
        "rss_max_mib": max((m for _, m in samples), default=0.0),
        "rss_trend_mib_per_min_after_60s": slope * 60,
    }
