"""/health, /health/detailed and /ready of the running service: healthy, broker down, database down.

These tests stop and start servers, so they run on a private pair that nobody else uses:
``scripts/services`` with its own ``ONEX_SERVICES_STATE_DIR`` (``/tmp/onex-svc-obs``) and
ports, started for this module and stopped after it; a file lock serialises two runs on one
machine. The shared servers are never touched. The default ports (PostgreSQL 62432, Kafka
62092-62096 with the controller on 62093; ``ONEX_OBS_POSTGRES_PORT``, ``ONEX_OBS_KAFKA_PORT``,
``ONEX_OBS_KAFKA_CONTROLLER_PORT`` override them) lie above Linux's ephemeral range
(32768-60999): a port inside it can be held for a while by any outgoing connection, or picked
by another test's ``free_port()``, and the server then fails to bind.

One ``onex-infra run`` serves the module (HEALTH_CHECK_INTERVAL 0.2 s). Expected answers:

- healthy: 200 ``healthy`` everywhere, ``/ready`` 200;
- database down: ``/health`` and ``/health/detailed`` 503 ``unhealthy``, ``/ready`` 503;
  database back: ``healthy`` and ready again;
- broker down: ``/health`` 200 ``degraded``, ``kafka_metrics`` unhealthy and unreachable,
  ``/ready`` 503 once the kafka breaker has opened (or the consumer stopped); broker back:
  ready again with Kafka healthy. (The overall status may stay ``degraded`` for the producer
  pool's 60 s error-rate window after the outage, so this test does not wait for ``healthy``.)

Every body is checked for the database password, a DSN and a stack trace.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from service_harness import ServiceProcess, ServiceTopics, free_port, service_env

SERVICES_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "services"
STATE_DIR = os.environ.get("ONEX_OBS_SERVICES_STATE_DIR", "/tmp/onex-svc-obs")
PRIVATE_SETTINGS = {
    "ONEX_SERVICES_STATE_DIR": STATE_DIR,
    "POSTGRES_PORT": os.environ.get("ONEX_OBS_POSTGRES_PORT", "62432"),
    "KAFKA_PORT": os.environ.get("ONEX_OBS_KAFKA_PORT", "62092"),
    "KAFKA_CONTROLLER_PORT": os.environ.get("ONEX_OBS_KAFKA_CONTROLLER_PORT", "62093"),
}
# Set by `eval "$(scripts/services env)"` for the shared pair; they must not leak into ours.
_SHARED_PREFIXES = ("POSTGRES_", "KAFKA_", "ONEX_SERVICES_")
LEAK_MARKERS = ("Traceback", 'File "', "postgresql://", "postgres://")

Body = dict[str, object]


@dataclass
class PrivateServers:
    """A PostgreSQL + Kafka pair run by ``scripts/services`` for this module only."""

    script_env: dict[str, str]
    settings: dict[str, str]  # what `scripts/services env` printed: POSTGRES_*, KAFKA_*

    def run(self, *args: str, timeout: float = 180.0) -> None:
        done = subprocess.run(
            [str(SERVICES_SCRIPT), *args],
            env=self.script_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"scripts/services {' '.join(args)}: {done.stdout}{done.stderr}", pytrace=False)

    @property
    def dsn(self) -> str:
        s = self.settings
        return (
            f"postgresql://{s['POSTGRES_USER']}:{s['POSTGRES_PASSWORD']}"
            f"@{s['POSTGRES_HOST']}:{s['POSTGRES_PORT']}/{s['POSTGRES_DATABASE']}"
        )


def _parse_env(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        settings[name] = " ".join(shlex.split(value))
    return settings


@pytest.fixture(scope="module")
def private_servers() -> Iterator[PrivateServers]:
    script_env = {k: v for k, v in os.environ.items() if not k.startswith(_SHARED_PREFIXES)}
    script_env.update(PRIVATE_SETTINGS)
    with open(f"{STATE_DIR}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        servers = PrivateServers(script_env, {})
        try:
            servers.run("start")
            printed = subprocess.run(
                [str(SERVICES_SCRIPT), "env"], env=script_env, capture_output=True, text=True, check=True
            )
            servers.settings = _parse_env(printed.stdout)
            assert servers.settings["POSTGRES_PASSWORD"], "the leak checks need a non-empty password"
            yield servers
        finally:
            servers.run("stop")


async def _prepare(servers: PrivateServers, topics: ServiceTopics, schema: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers.settings["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in vars(topics).values()])
    finally:
        await admin.close()
    conn = await asyncpg.connect(servers.dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


async def _drop_schema(servers: PrivateServers, schema: str) -> None:
    conn = await asyncpg.connect(servers.dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def running_service(
    private_servers: PrivateServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """``onex-infra run`` on the private pair, ready; stopped after the module."""
    tag = uuid.uuid4().hex[:8]
    topics = ServiceTopics(
        store=f"onex.evt.health.{tag}.store.v1",
        command=f"onex.cmd.health.{tag}.command.v1",
        completed=f"onex.evt.health.{tag}.completed.v1",
        failed=f"onex.evt.health.{tag}.failed.v1",
        state=f"onex.evt.health.{tag}.state.v1",
    )
    schema = f"t_{tag}"
    asyncio.run(_prepare(private_servers, topics, schema))
    health_port, metrics_port = free_port(), free_port()
    env = service_env(
        schema=schema,
        topics=topics,
        group=f"onex-health-{tag}",
        health_port=health_port,
        metrics_port=metrics_port,
    )
    # Drop the shared pair's connection settings (inherited from this process), keep ours.
    own = {k: env[k] for k in ("POSTGRES_SCHEMA", "KAFKA_CONSUMER_GROUP")}
    env = {k: v for k, v in env.items() if not k.startswith(_SHARED_PREFIXES)}
    env.update({**private_servers.settings, **own, "HEALTH_CHECK_INTERVAL": "0.2"})
    log = tmp_path_factory.mktemp("health-service") / "service.log"
    process = ServiceProcess(env, log, health_port, metrics_port)
    process.migrate()
    process.start()
    try:
        asyncio.run(process.wait_ready())
        yield process
    finally:
        process.kill()
        asyncio.run(_drop_schema(private_servers, schema))


@dataclass(frozen=True)
class Snapshot:
    """The three endpoints, read one after the other."""

    health: tuple[int, Body]
    detailed: tuple[int, Body]
    ready: tuple[int, Body]


async def _get(session: aiohttp.ClientSession, url: str, password: str) -> tuple[int, Body]:
    async with session.get(url) as response:
        text = await response.text()
        status = response.status
    assert password not in text, f"{url} leaks the database password: {text}"
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{url} leaks {marker!r}: {text}"
    body: Body = json.loads(text)
    return status, body


async def _snapshot(process: ServiceProcess, password: str) -> Snapshot:
    async with aiohttp.ClientSession() as session:
        base = process.base_url
        return Snapshot(
            await _get(session, f"{base}/health", password),
            await _get(session, f"{base}/health/detailed", password),
            await _get(session, f"{base}/ready", password),
        )


async def _wait_for(
    process: ServiceProcess,
    password: str,
    condition: Callable[[Snapshot], bool],
    what: str,
    within: float,
) -> Snapshot:
    """Poll the endpoints until ``condition`` holds; fail with the last answers otherwise."""
    deadline = time.monotonic() + within
    while True:
        snapshot = await _snapshot(process, password)
        if condition(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {within} s; last answers: {snapshot}", pytrace=False)
        await asyncio.sleep(0.25)


def _breakers(snapshot: Snapshot) -> dict[str, str]:
    metrics = snapshot.detailed[1]["circuit_breaker_metrics"]
    assert isinstance(metrics, list)
    return {str(b["name"]): str(b["state"]) for b in metrics}


def _component(snapshot: Snapshot, name: str) -> Body:
    component = snapshot.detailed[1][f"{name}_metrics"]
    assert isinstance(component, dict)
    return component


def is_healthy(s: Snapshot) -> bool:
    return s.health[0] == 200 and s.health[1]["status"] == "healthy" and s.ready[0] == 200


def database_is_down(s: Snapshot) -> bool:
    return s.health[0] == 503 and s.ready[0] == 503


def broker_is_down(s: Snapshot) -> bool:
    return s.health[1]["status"] == "degraded" and _component(s, "kafka")["status"] == "unhealthy"


def is_unready(s: Snapshot) -> bool:
    return s.ready[0] == 503


def broker_is_back(s: Snapshot) -> bool:
    """Ready, and every component healthy again: reachable brokers, breakers closed (not half-open)."""
    components = {"postgres": True, "kafka": True, "circuit_breaker": True}
    return s.ready[0] == 200 and s.health[0] == 200 and s.health[1]["components"] == components


def _password(servers: PrivateServers) -> str:
    return servers.settings["POSTGRES_PASSWORD"]


async def test_healthy_service_answers_200_everywhere(
    running_service: ServiceProcess, private_servers: PrivateServers
) -> None:
    s = await _wait_for(running_service, _password(private_servers), is_healthy, "healthy", 30)
    assert s.health[1]["components"] == {"postgres": True, "kafka": True, "circuit_breaker": True}
    assert s.health[1]["environment"] == "development"
    status, detailed = s.detailed
    assert status == 200
    assert detailed["overall"] == "healthy"
    assert {"postgres_metrics", "kafka_metrics", "circuit_breaker_metrics", "performance"} <= detailed.keys()
    assert _component(s, "postgres")["status"] == "healthy"
    assert _component(s, "kafka")["status"] == "healthy"
    assert _component(s, "kafka")["brokers_reachable"] is True
    assert _breakers(s) == {"postgres": "closed", "kafka": "closed"}
    assert s.ready == (200, {"ready": True, "reasons": []})


async def test_database_down_is_unhealthy_and_not_ready_then_recovers(
    running_service: ServiceProcess, private_servers: PrivateServers
) -> None:
    password = _password(private_servers)
    await _wait_for(running_service, password, is_healthy, "healthy before the outage", 30)
    await asyncio.to_thread(private_servers.run, "stop-postgres", "fast")
    try:
        down = await _wait_for(
            running_service, password, database_is_down, "unhealthy and unready, database down", 30
        )
        assert down.health[1]["status"] == "unhealthy"
        assert down.health[1]["components"]["postgres"] is False  # type: ignore[index]
        assert down.detailed[0] == 503
        assert down.detailed[1]["overall"] == "unhealthy"
        assert _component(down, "postgres")["status"] == "unhealthy"
        assert _component(down, "kafka")["brokers_reachable"] is True
        assert down.ready[1]["ready"] is False
        assert down.ready[1]["reasons"], down.ready
    finally:
        await asyncio.to_thread(private_servers.run, "start-postgres")
    back = await _wait_for(running_service, password, is_healthy, "healthy with the database back", 60)
    assert back.detailed[1]["overall"] == "healthy"
    assert _breakers(back) == {"postgres": "closed", "kafka": "closed"}


async def test_broker_down_is_degraded_and_not_ready_then_ready_again(
    running_service: ServiceProcess, private_servers: PrivateServers
) -> None:
    password = _password(private_servers)
    await _wait_for(running_service, password, is_healthy, "healthy before the outage", 60)
    await asyncio.to_thread(private_servers.run, "stop-kafka")
    try:
        degraded = await _wait_for(running_service, password, broker_is_down, "degraded, broker down", 30)
        assert degraded.health[0] == 200
        assert degraded.health[1]["components"]["kafka"] is False  # type: ignore[index]
        assert degraded.health[1]["components"]["postgres"] is True  # type: ignore[index]
        assert degraded.detailed[0] == 200
        assert degraded.detailed[1]["overall"] == "degraded"
        assert _component(degraded, "kafka")["brokers_reachable"] is False
        assert _component(degraded, "postgres")["status"] == "healthy"

        unready = await _wait_for(running_service, password, is_unready, "unready, broker down", 45)
        reasons = " ".join(map(str, unready.ready[1]["reasons"]))  # type: ignore[call-overload]
        assert "'kafka' is open" in reasons or "consumer is not running" in reasons, unready.ready
        assert unready.health[0] == 200  # still degraded, not unhealthy
        assert unready.health[1]["status"] == "degraded"
    finally:
        await asyncio.to_thread(private_servers.run, "start-kafka", "--keep-data")
    back = await _wait_for(running_service, password, broker_is_back, "ready, broker back", 60)
    assert _component(back, "kafka")["brokers_reachable"] is True
    assert _breakers(back) == {"postgres": "closed", "kafka": "closed"}
