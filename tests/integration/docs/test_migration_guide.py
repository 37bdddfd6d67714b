"""docs/migration-guide.md works as written: its samples run against the real servers.

A service (`onex-infra run`, as the guide's Step 5 starts it) runs for the whole module on
its own schema, topics, consumer group and ports; the topic and port variables it uses are
the ones the guide's samples read, with the shipped topics as their defaults. Then, in
document order:

- every ``python`` block runs as a program in its own process (exit code 0);
- every ``bash`` block marked ``<!-- runnable -->`` runs as one ``bash -eo pipefail`` script;
- every ``$ `` command of a ``console`` block marked ``<!-- runnable -->`` runs with ``bash -c``;

each with the environment of ``scripts/services env`` plus the service's variables, and each
checked against the exit code of its marker (0 unless ``exit=N``). A block that needs a tool
this machine lacks (``jq``, ``curl``) is skipped naming the tool.

When the module ends, the service is stopped with SIGTERM and must exit 0.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from doc_blocks import DOCS, REPO_ROOT, SHELL_LANGUAGES, CodeBlock, code_blocks
from service_harness import create_topics, delete_topics

GUIDE = DOCS / "migration-guide.md"
VENV_BIN = Path(sys.executable).parent
BLOCK_TIMEOUT = 180.0
READY_TIMEOUT = 120.0
OPTIONAL_TOOLS = ("jq", "curl")


def _executable_blocks() -> list[CodeBlock]:
    return [
        block
        for block in code_blocks(GUIDE)
        if block.language == "python" or (block.language in SHELL_LANGUAGES and block.runnable)
    ]


BLOCKS = _executable_blocks()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f'{name} is not set: scripts/services start && eval "$(scripts/services env)"', pytrace=False
        )
    return value


@dataclass
class GuideService:
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes]


async def _create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    await create_topics(bootstrap, topics, client_id="onex-docs-test")


async def _delete_topics(bootstrap: str, prefixes: list[str]) -> None:
    await delete_topics(bootstrap, prefixes, client_id="onex-docs-test")


async def _drop_schema(env: dict[str, str], schema: str) -> None:
    conn = await asyncpg.connect(
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD"),
        database=env["POSTGRES_DATABASE"],
    )
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def _wait_ready(service: GuideService) -> None:
    url = f"http://127.0.0.1:{service.env['HEALTH_CHECK_PORT']}/ready"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    log = service.log_path.read_text(errors="replace")[-4000:]
    pytest.fail(f"the guide's service did not become ready at {url}:\n{log}", pytrace=False)


@pytest.fixture(scope="module")
def guide_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuideService]:
    """`onex-infra run` configured as the guide describes, on its own schema, topics and ports."""
    for name in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DATABASE", "POSTGRES_USER"):
        _require(name)
    bootstrap = _require("KAFKA_BOOTSTRAP_SERVERS")
    tag = uuid.uuid4().hex[:8]
    topics = {
        f"onex.evt.docs{tag}.event-store.v1": 3,
        f"onex.cmd.docs{tag}.operation.v1": 1,
        f"onex.evt.docs{tag}.operation-completed.v1": 1,
        f"onex.evt.docs{tag}.operation-failed.v1": 1,
        f"onex.evt.docs{tag}.state-changed.v1": 1,
    }
    store, command, completed, failed, state = topics
    schema = f"docs_{tag}"
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ENVIRONMENT": "development",
        "POSTGRES_SCHEMA": schema,
        "ONEX_EVENT_STORE_TOPICS": store,
        "ONEX_OUTBOX_TOPICS": store,
        "ONEX_COMMAND_TOPIC": command,
        "ONEX_OPERATION_COMPLETED_TOPIC": completed,
        "ONEX_OPERATION_FAILED_TOPIC": failed,
        "ONEX_STATE_CHANGED_TOPIC": state,
        "ONEX_CONTRACTS_PATH": "docs/examples",
        "KAFKA_CONSUMER_GROUP": f"onex-docs-{tag}",
        "HEALTH_CHECK_PORT": str(_free_port()),
        "PROMETHEUS_METRICS_PORT": str(_free_port()),
        "HEALTH_CHECK_INTERVAL": "2",
    }
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "ONEX_ADMIN_TOKEN", "ONEX_ADMIN_TOKEN_FILE", "VAULT_ADDR"):
        env.pop(name, None)
    asyncio.run(_create_topics(bootstrap, topics))
    log_path = tmp_path_factory.mktemp("guide") / "service.log"
    migrated = subprocess.run(
        ["onex-infra", "db", "migrate"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert migrated.returncode == 0, migrated.stderr
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["onex-infra", "run"], env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    service = GuideService(env, log_path, process)
    try:
        _wait_ready(service)
        yield service
    finally:
        exit_code = _stop(process)
        asyncio.run(_delete_topics(bootstrap, [t for t in topics]))
        asyncio.run(_drop_schema(env, schema))
    assert exit_code == 0, f"SIGTERM: exit {exit_code}\n{log_path.read_text(errors='replace')[-4000:]}"


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None
    return process.returncode


def _missing_tool(block: CodeBlock) -> str | None:
    text = " ".join(block.shell_lines())
    for tool in OPTIONAL_TOOLS:
        if f"{tool} " in f"{text} " and shutil.which(tool) is None:
            return tool
    return None


def _run(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=BLOCK_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} did not finish within {BLOCK_TIMEOUT:.0f} s: {exc.stdout!r}", pytrace=False)


def test_the_guide_has_samples_to_run() -> None:
    python = [b for b in BLOCKS if b.language == "python"]
    shell = [b for b in BLOCKS if b.language != "python"]
    assert len(python) >= 8, [b.label for b in python]
    assert len(shell) >= 6, [b.label for b in shell]


@pytest.mark.parametrize("block", BLOCKS, ids=[b.label for b in BLOCKS])
def test_guide_block_works_as_written(block: CodeBlock, guide_service: GuideService, tmp_path: Path) -> None:
    env = guide_service.env
    if block.language == "python":
        script = tmp_path / f"sample_line_{block.line}.py"
        script.write_text(block.body, encoding="utf-8")
        done = _run([sys.executable, str(script)], env, block.label)
        assert done.returncode == block.expected_exit, (
            f"{block.label} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
        return
    tool = _missing_tool(block)
    if tool is not None:
        pytest.skip(f"{block.label} needs {tool}, which is not installed")
    if block.language == "console":
        commands = block.console_commands()
        assert commands, f"{block.label} is marked runnable but has no '$ ' line"
        for command in commands:
            done = _run(["bash", "-c", command], env, f"{block.label}: {command}")
            assert done.returncode == block.expected_exit, (
                f"{block.label}: `{command}` exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return
    done = _run(["bash", "-eo", "pipefail", "-c", block.body], env, block.label)
    assert done.returncode == block.expected_exit, (
        f"{block.label} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
