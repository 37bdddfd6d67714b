"""``scripts/run`` end to end: service plus demo traffic, replies, health, Ctrl-C stops everything it started.

The script is pointed at the shared servers as *external* ones (POSTGRES_HOST and
KAFKA_BOOTSTRAP_SERVERS set without the markers of ``scripts/services env``), so it neither
starts nor stops them; it runs in this test's schema, topics, consumer group and ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from service_harness import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = str(REPO_ROOT / "scripts" / "run")
OPERATIONS = (
    "count_events_by_type",
    "list_events_by_correlation",
    "enqueue_outbox_event",
    "count_outbox_by_status",
)


def run_env(schema: str, topics: dict[str, str], run_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ONEX_SERVICES_DIR", "ONEX_SERVICES_MANAGED")
        and not k.startswith(("ONEX_", "HEALTH_CHECK"))
    }
    env.update(topics)
    env.update(
        {
            "POSTGRES_SCHEMA": schema,
            "KAFKA_CONSUMER_GROUP": f"onex-run-test-{uuid.uuid4().hex[:8]}",
            "HEALTH_CHECK_PORT": str(free_port()),
            "PROMETHEUS_METRICS_PORT": str(free_port()),
            "ONEX_RUN_DIR": str(run_dir),
        }
    )
    return env


async def read_until(
    stream: asyncio.StreamReader, lines: list[str], done: Callable[[], bool], within: float
) -> None:
    deadline = time.monotonic() + within
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("scripts/run output so far:\n" + "\n".join(lines))
        try:
            raw = await asyncio.wait_for(stream.readline(), remaining)
        except TimeoutError:
            continue
        if not raw:
            raise AssertionError("scripts/run ended early:\n" + "\n".join(lines))
        lines.append(raw.decode(errors="replace").rstrip("\n"))


async def drain(stream: asyncio.StreamReader, lines: list[str]) -> None:
    """Keep reading the script's output until EOF: the demo producer prints on, and a pipe left
    full would block the script's own log lines, so it could not stop its children."""
    while raw := await stream.readline():
        lines.append(raw.decode(errors="replace").rstrip("\n"))


def tail(log: Path, count: int) -> list[str]:
    return log.read_text(errors="replace").splitlines()[-count:] if log.exists() else []


async def ctrl_c(
    process: asyncio.subprocess.Process,
    reading: asyncio.Task[None],
    lines: list[str],
    within: float,
    service_log: Path,
) -> int:
    """Ctrl-C to the script's process group; then ``reading`` (``drain`` of its output) to EOF,
    and the script's exit status.

    EOF means the script and the demo producer, which print into the pipe, are gone; the
    script exits only after the service it waited for (whose output goes to ``service_log``).
    Past ``within`` seconds, or 30 s more for the exit, the test fails with the output so far
    and the end of the service's log."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        await asyncio.wait_for(asyncio.shield(reading), within)
    except TimeoutError:
        raise AssertionError(
            stuck(f"no EOF from scripts/run within {within:.0f} s of Ctrl-C", lines, service_log)
        ) from None
    try:
        return await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        raise AssertionError(
            stuck("scripts/run closed its output but did not exit within 30 s", lines, service_log)
        ) from None


def stuck(what: str, lines: list[str], service_log: Path) -> str:
    return (
        f"{what}; its output:\n"
        + "\n".join(lines)
        + f"\n--- the end of {service_log}:\n"
        + "\n".join(tail(service_log, 40))
    )


def kill_what_is_left(process: asyncio.subprocess.Process, lines: list[str]) -> None:
    """After a failure only: SIGKILL to the script's process group and to the service and demo
    producer it started in sessions of their own; never a wait on pipes that an orphan could hold
    open."""
    started = re.findall(r"(?:service starting|demo producer started) \(pid (\d+)", "\n".join(lines))
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    for pid in started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


async def test_run_streams_demo_traffic_and_ctrl_c_stops_what_it_started(
    pg_schema: str, postgres_dsn: str, unique_topic: Callable[..., Awaitable[str]], tmp_path: Path
) -> None:
    topics = {
        "ONEX_EVENT_STORE_TOPICS": await unique_topic(1),
        "ONEX_COMMAND_TOPIC": await unique_topic(1, kind="cmd"),
        "ONEX_OPERATION_COMPLETED_TOPIC": await unique_topic(1),
        "ONEX_OPERATION_FAILED_TOPIC": await unique_topic(1),
        "ONEX_STATE_CHANGED_TOPIC": await unique_topic(1),
    }
    env = run_env(pg_schema, topics, tmp_path / "run")
    process = await asyncio.create_subprocess_exec(
        SCRIPT,
        "--rate",
        "20",
        "--command-every",
        "3",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # like a terminal: Ctrl-C goes to the script's process group only
    )
    assert process.stdout is not None
    lines: list[str] = []
    reading: asyncio.Task[None] | None = None
    stopped = False
    try:

        def replies_to_every_operation() -> bool:
            return all(any(line.startswith(f"reply  {op}:") for line in lines) for op in OPERATIONS)

        await read_until(process.stdout, lines, replies_to_every_operation, within=240)
        reading = asyncio.create_task(drain(process.stdout, lines))  # the demo producer prints on
        output = "\n".join(lines)
        assert "omnibase_infra is running" in output
        health_url = f"http://127.0.0.1:{env['HEALTH_CHECK_PORT']}/health"
        assert f"  health    {health_url}" in output
        assert f"  metrics   http://127.0.0.1:{env['PROMETHEUS_METRICS_PORT']}/metrics" in output
        assert f'FROM "{pg_schema}".onex_event_store' in output
        assert not any("FAILED" in line for line in lines if line.startswith("reply"))
        async with aiohttp.ClientSession() as session, session.get(health_url) as response:
            assert response.status == 200
        conn = await asyncpg.connect(postgres_dsn, server_settings={"search_path": pg_schema})
        try:
            stored = await conn.fetchval(
                "SELECT count(*) FROM onex_event_store WHERE event_type LIKE 'demo.%'"
            )
        finally:
            await conn.close()
        assert stored > 0
        assert oct((tmp_path / "run" / "env").stat().st_mode)[-3:] == "600"
        [service_pid] = {int(m) for m in re.findall(r"service starting \(pid (\d+)", output)}

        code = await ctrl_c(process, reading, lines, within=90, service_log=tmp_path / "run" / "service.log")
        stopped = True
    finally:
        if reading is not None:
            reading.cancel()
        if not stopped:
            kill_what_is_left(process, lines)
    output = "\n".join(lines)
    assert code == 0, output
    assert "run: the demo producer exited with status 0" in output
    assert "run: the service exited with status 0" in output
    assert "stopping kafka" not in output and "stopping postgres" not in output  # not started here
    try:
        os.kill(service_pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"the service (pid {service_pid}) is still running")


async def test_run_refuses_a_busy_port(pg_schema: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = run_env(pg_schema, {}, tmp_path / "run")
        env["HEALTH_CHECK_PORT"] = str(busy.getsockname()[1])
        process = await asyncio.create_subprocess_exec(
            SCRIPT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode == 1
    assert f"port {env['HEALTH_CHECK_PORT']} (HEALTH_CHECK_PORT) is in use" in out.decode()


@pytest.fixture
def fresh_state_dir() -> Iterator[Path]:
    """An empty ``ONEX_SERVICES_STATE_DIR`` the postgres OS user can traverse; removed after."""
    state = Path(tempfile.mkdtemp(prefix="onex-run-state-"))
    state.chmod(0o755)
    yield state
    shutil.rmtree(state, ignore_errors=True)


async def test_run_on_a_fresh_machine_starts_and_then_stops_its_own_servers(fresh_state_dir: Path) -> None:
    """README command 1 from nothing: a new state dir (own PostgreSQL cluster and Kafka broker on free
    ports), demo traffic, Ctrl-C; the servers this run started are stopped again."""
    state = fresh_state_dir
    kafka_port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "ONEX_SERVICES_STATE_DIR": str(state),
        "POSTGRES_PORT": str(free_port()),
        "KAFKA_PORT": str(kafka_port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_SASL_PORT": str(free_port()),
        "KAFKA_SSL_PORT": str(free_port()),
        "KAFKA_SASL_SSL_PORT": str(free_port()),
        "HEALTH_CHECK_PORT": str(free_port()),
        "PROMETHEUS_METRICS_PORT": str(free_port()),
    }
    services = str(REPO_ROOT / "scripts" / "services")
    process = await asyncio.create_subprocess_exec(
        SCRIPT,
        "--rate",
        "20",
        "--count",
        "9",
        "--command-every",
        "3",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    reading: asyncio.Task[None] | None = None
    stopped = False
    try:
        await read_until(
            process.stdout,
            lines,
            lambda: any("the demo producer finished (status 0)" in x for x in lines),
            300,
        )
        reading = asyncio.create_task(drain(process.stdout, lines))
        output = "\n".join(lines)
        assert "run: started by this script: postgres kafka" in output
        assert f"kafka: up on 127.0.0.1:{kafka_port}" in output
        assert sum(line.startswith("reply  ") for line in lines) == 3
        code = await ctrl_c(process, reading, lines, within=120, service_log=state / "run" / "service.log")
        stopped = True
    finally:
        if reading is not None:
            reading.cancel()
        if not stopped:
            kill_what_is_left(process, lines)
        status = await asyncio.create_subprocess_exec(
            services, "status", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        status_out = (await status.communicate())[0].decode()
        stop = await asyncio.create_subprocess_exec(
            services, "stop", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await stop.wait()
    output = "\n".join(lines)
    assert code == 0, output
    assert "run: the service exited with status 0" in output
    assert "run: stopping kafka (started by this script)" in output
    assert "run: stopping postgres (started by this script)" in output
    assert status.returncode == 3, status_out
    assert [line.split()[:2] for line in status_out.splitlines()] == [["postgres", "down"], ["kafka", "down"]]
