"""Fixtures that run the real service against per-test schema, topics and ports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from service_harness import ServiceProcess, ServiceTopics, free_port, service_env


@pytest.fixture
async def service_topics(unique_topic: Callable[..., Awaitable[str]]) -> ServiceTopics:
    return ServiceTopics(
        store=await unique_topic(3),
        command=await unique_topic(1, kind="cmd"),
        completed=await unique_topic(1),
        failed=await unique_topic(1),
        state=await unique_topic(1),
    )


@pytest.fixture
async def service(
    pg_schema: str, service_topics: ServiceTopics, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    """A migrated (not yet started) service; killed after the test if still running."""
    health_port, metrics_port = free_port(), free_port()
    env = service_env(
        schema=pg_schema,
        topics=service_topics,
        group=f"onex-test-{uuid.uuid4().hex[:8]}",
        health_port=health_port,
        metrics_port=metrics_port,
    )
    process = ServiceProcess(env, tmp_path / "service.log", health_port, metrics_port)
    process.migrate()
    yield process
    process.kill()


@pytest.fixture
async def db(postgres_dsn: str, pg_schema: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres_dsn, server_settings={"search_path": pg_schema})
    yield conn
    await conn.close()
