"""Fixtures of the CLI integration tests: the real ``onex-infra`` binary against the real servers.

Each test works in its own schema (``pg_schema``) and topics (``unique_topic``); a running
service (``service``) gets its own consumer group and ports and an admin token. Nothing
here stops, pauses or reconfigures the shared servers: "server down" cases point the CLI at
a closed port instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from cli_helpers import ADMIN_TOKEN, run_cli
from service_harness import ServiceProcess, ServiceTopics, free_port


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
async def service(service: ServiceProcess) -> AsyncIterator[ServiceProcess]:
    """The shared migrated service (on these one-partition topics), with ONEX_ADMIN_TOKEN set,
    started and ready; killed after the test."""
    service.env["ONEX_ADMIN_TOKEN"] = ADMIN_TOKEN
    service.start()
    await service.wait_ready()
    yield service
