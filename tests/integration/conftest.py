"""Fixtures for tests that talk to the real PostgreSQL and Kafka run by ``scripts/services``.

Every test in this directory is marked ``integration``. Connection settings come from the
environment (``eval "$(scripts/services env)"``, which ``scripts/test`` does); a missing
variable fails the test with its name instead of skipping it, so a run can never pass by
testing nothing.

Fixtures:

- ``postgres_dsn`` (session): ``postgresql://user:password@host:port/database``.
- ``kafka_bootstrap`` (session): the ``KAFKA_BOOTSTRAP_SERVERS`` value.
- ``pg_schema``: a fresh schema ``t_<uuid8>`` in the test database, dropped (CASCADE) after.
- ``scratch_database``: a new, empty database on the test server (a restore target), dropped after.
- ``unique_topic``: an async factory ``await unique_topic(partitions=3)`` returning a new
  topic ``onex.evt.test.<uuid8>.v1`` that exists on the broker with every partition led;
  the topics it made, and any topic named ``<topic>.<suffix>`` (e.g. ``<topic>.dlq``
  auto-created by the test), are deleted after.
- ``pg_admin``: runs a ``scripts/services`` subcommand (``restart-postgres immediate``,
  ``pause-kafka``, ...) for fault-injection tests. Once it has been used, the servers are
  brought back (PostgreSQL started, Kafka resumed or restarted with its data kept) before
  ``pg_schema``/``unique_topic`` clean up and again when the test ends, so one failing fault
  test does not take the servers away from the rest of the session.
- ``service_topics``, ``service`` (a migrated, not yet started ``onex-infra run`` on its own
  schema, topics, consumer group and ports; killed after the test) and ``db`` (a connection
  to the test's schema): the real service, run by ``runtime/service_harness.py``, which is
  importable from every integration test directory as ``service_harness``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_SCRIPT = REPO_ROOT / "scripts" / "services"
_INTEGRATION_DIR = Path(__file__).resolve().parent
if str(_INTEGRATION_DIR / "runtime") not in sys.path:
    sys.path.insert(0, str(_INTEGRATION_DIR / "runtime"))

from service_harness import ServiceProcess, ServiceTopics, free_port, service_env  # noqa: E402

_HOW_TO_FIX = (
    'start the servers and export their settings: scripts/services start && eval "$(scripts/services env)" '
    "(scripts/test does both)"
)


EXCLUSIVE_FIXTURES = frozenset({"pg_admin"})
"""A test that uses one of these may take a shared server down: it is marked ``exclusive``."""


def is_exclusive(item: pytest.Item) -> bool:
    """Whether ``item`` must run while no other test uses the shared servers."""
    if item.get_closest_marker("exclusive") is not None:
        return True
    return bool(EXCLUSIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected from this directory as ``integration``, and the tests that
    take a shared server down as ``exclusive``; then apply ``--exclusive skip|only``.

    ``scripts/test`` runs ``--exclusive skip`` on several xdist workers, then ``--exclusive only``
    in one process, so a server outage never overlaps another test.
    """
    mode = config.getoption("exclusive", default="include")
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        exclusive = False
        if item.path.resolve().is_relative_to(_INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)
            if is_exclusive(item):
                item.add_marker(pytest.mark.exclusive)
                exclusive = True
        if mode == "include" or (mode == "only") == exclusive:
            keep.append(item)
        else:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def require_env(name: str, *, allow_empty: bool = False) -> str:
    """Return the environment variable ``name``, failing the test (not skipping) if unset."""
    value = os.environ.get(name)
    if value is None or (not value and not allow_empty):
        pytest.fail(f"environment variable {name} is not set; {_HOW_TO_FIX}", pytrace=False)
    return value


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    host = require_env("POSTGRES_HOST")
    port = require_env("POSTGRES_PORT")
    database = require_env("POSTGRES_DATABASE")
    user = require_env("POSTGRES_USER")
    password = require_env("POSTGRES_PASSWORD", allow_empty=True)
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port}/{quote(database, safe='')}"
    )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return require_env("KAFKA_BOOTSTRAP_SERVERS")


async def _connect(dsn: str, *, within: float = 15.0) -> asyncpg.Connection:
    """Connect, retrying for ``within`` seconds (a fault test may have just restarted the server)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await asyncpg.connect(dsn, timeout=5, server_settings={"lock_timeout": "10s"})
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError):
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.fixture
async def pg_schema(postgres_dsn: str) -> AsyncIterator[str]:
    """A new, empty schema ``t_<uuid8>``; dropped with CASCADE after the test."""
    name = f"t_{uuid.uuid4().hex[:8]}"
    conn = await _connect(postgres_dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    yield name
    await asyncio.to_thread(_restore_services)
    conn = await _connect(postgres_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


class TopicFactory(Protocol):
    def __call__(
        self, partitions: int = 3, *, kind: str = "evt", configs: dict[str, str] | None = None
    ) -> Awaitable[str]: ...


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topic: str, partitions: int, *, within: float = 15.0
) -> None:
    """Return once the broker's metadata shows ``partitions`` partitions, each with a leader."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        described = await admin.describe_topics([topic])
        parts = described[0]["partitions"] if described and not described[0]["error_code"] else []
        if len(parts) == partitions and all(p["leader"] >= 0 for p in parts):
            return
        if loop.time() >= deadline:
            raise TimeoutError(f"topic {topic} has no leader for every partition after {within} s")
        await asyncio.sleep(0.1)


@pytest.fixture
async def scratch_database(postgres_dsn: str) -> AsyncIterator[str]:
    """A new, empty database ``onex_restore_<uuid8>`` on the test server; dropped after the test."""
    name = f"onex_restore_{uuid.uuid4().hex[:8]}"
    conn = await _connect(postgres_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield name
    conn = await _connect(postgres_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def unique_topic(kafka_bootstrap: str) -> AsyncIterator[TopicFactory]:
    """Factory for fresh topics ``onex.<kind>.test.<uuid8>.v1``; all deleted after the test."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="onex-test-admin")
    await admin.start()
    created: list[str] = []

    async def make(partitions: int = 3, *, kind: str = "evt", configs: dict[str, str] | None = None) -> str:
        name = f"onex.{kind}.test.{uuid.uuid4().hex[:8]}.v1"
        response = await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
        created.append(name)
        for topic_error in response.topic_errors:
            if topic_error[1] != 0:
                raise RuntimeError(f"creating topic {topic_error[0]} failed: {topic_error}")
        await _wait_for_leaders(admin, name, partitions)
        return name

    try:
        yield make
    finally:
        await asyncio.to_thread(_restore_services)
        try:
            if created:
                existing = await admin.list_topics()
                doomed = [t for t in existing if any(t == c or t.startswith(f"{c}.") for c in created)]
                if doomed:
                    await admin.delete_topics(doomed)
        finally:
            await admin.close()


class _ServicesState:
    """Whether a fault-injection command may have left a server stopped or paused."""

    disturbed = False


def _restore_services() -> None:
    if _ServicesState.disturbed:
        _ServicesState.disturbed = False
        run_services("start-postgres")
        run_services("start-kafka", "--keep-data")


class ServicesCommand(Protocol):
    def __call__(
        self, *args: str, check: bool = True, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]: ...


def run_services(*args: str, check: bool = True, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/services <args>``; with ``check``, fail the test on a non-zero exit."""
    proc = subprocess.run(
        [str(SERVICES_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"scripts/services {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}",
            pytrace=False,
        )
    return proc


@pytest.fixture
def pg_admin() -> Iterator[ServicesCommand]:
    """Run a ``scripts/services`` subcommand, e.g. ``pg_admin("restart-postgres", "immediate")``.

    Returns the ``CompletedProcess``; a non-zero exit fails the test unless ``check=False``.
    The call blocks; from a coroutine use ``await asyncio.to_thread(pg_admin, "pause-kafka")``
    so the event loop keeps running. Both servers are brought back after the test.
    """

    def run(*args: str, check: bool = True, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
        _ServicesState.disturbed = True
        return run_services(*args, check=check, timeout=timeout)

    yield run
    _restore_services()


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
