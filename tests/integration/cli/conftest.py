"""Fixtures of the CLI integration tests: the real ``onex-infra`` binary against the real servers.

Each test works in its own schema (``pg_schema``) and topics (``unique_topic``); a running
service (``service``) gets its own consumer group and ports and an admin token. Nothing
here stops, pauses or reconfigures the shared servers: "server down" cases point the CLI at
a closed port instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cli_helpers import ADMIN_TOKEN, run_cli
from service_harness import ServiceProcess, ServiceTopics, free_port, service_env


@pytest.fixture
def cli_env(pg_schema: str) -> dict[str, str]:
    """The process environment (real servers) with this test's schema and free HTTP ports."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ONEX_", "OTEL_", "HEALTH_CHECK", "NO_COLOR"))
    }
    env.update(
        {
            "POSTGRES_SCHEMA": pg_schema,
            "HEALTH_CHECK_PORT": str(free_port()),
            "PROMETHEUS_METRICS_PORT": str(free_port()),
            "ENVIRONMENT": "development",
        }
    )
    return env


@pytest.fixture
async def migrated_env(cli_env: dict[str, str]) -> dict[str, str]:
    result = await run_cli("db", "migrate", env=cli_env)
    assert result.code == 0, result.text
    return cli_env


@pytest.fixture
async def service_topics(unique_topic: Callable[..., Awaitable[str]]) -> ServiceTopics:
    return ServiceTopics(
        store=await unique_topic(1),
        command=await unique_topic(1, kind="cmd"),
        completed=await unique_topic(1),
        failed=await unique_topic(1),
        state=await unique_topic(1),
    )


@pytest.fixture
async def service(
    pg_schema: str, service_topics: ServiceTopics, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    """A migrated service with ONEX_ADMIN_TOKEN set, started and ready; killed after the test."""
    health_port, metrics_port = free_port(), free_port()
    env = service_env(
        schema=pg_schema,
        topics=service_topics,
        group=f"onex-cli-test-{uuid.uuid4().hex[:8]}",
        health_port=health_port,
        metrics_port=metrics_port,
    )
    env["ONEX_ADMIN_TOKEN"] = ADMIN_TOKEN
    process = ServiceProcess(env, tmp_path / "service.log", health_port, metrics_port)
    process.migrate()
    process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.kill()
