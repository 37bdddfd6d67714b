"""docs/nodes.md works as written: each node sample runs on its own against the real servers.

Each ``python`` block of the guide is a program of at most 15 lines; it runs in its own
process with the environment of ``scripts/services env`` plus a migrated schema of its
own, a fresh topic (``ORDERS_TOPIC``) and its own consumer group. No service runs. The
postgres_adapter sample must leave its batch in the event store; the kafka_adapter sample
must read back what it published and commit the offset after it for its group.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from doc_blocks import DOCS, REPO_ROOT, CodeBlock, code_blocks
from service_harness import committed_offsets

GUIDE = DOCS / "nodes.md"
VENV_BIN = Path(sys.executable).parent
MAX_SAMPLE_LINES = 15


def _sample(node: str) -> CodeBlock:
    found = [b for b in code_blocks(GUIDE) if b.language == "python" and f'load_class("{node}")' in b.body]
    assert len(found) == 1, f"docs/nodes.md should have one {node} sample, has {len(found)}"
    return found[0]


def _run(block: CodeBlock, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"sample_line_{block.line}.py"
    script.write_text(block.body, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{block.label} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["ENVIRONMENT"] = "development"
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "ONEX_CONFIG_FILE", "ONEX_CONTRACTS_PATH", "VAULT_ADDR"):
        env.pop(name, None)
    env.update(extra)
    return env


def test_every_sample_is_at_most_15_lines() -> None:
    samples = [b for b in code_blocks(GUIDE) if b.language == "python"]
    assert len(samples) == 2, [b.label for b in samples]
    for block in samples:
        assert len(block.body.splitlines()) <= MAX_SAMPLE_LINES, block.label


async def test_postgres_adapter_sample_stores_a_batch_and_runs_an_operation(
    pg_schema: str, postgres_dsn: str, tmp_path: Path
) -> None:
    env = _env(POSTGRES_SCHEMA=pg_schema)
    migrated = await asyncio.to_thread(
        subprocess.run,
        [str(VENV_BIN / "onex-infra"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr

    done = await asyncio.to_thread(_run, _sample("postgres_adapter"), env, tmp_path)

    assert "kind='event_store_write' received=1 stored=1 duplicates=0" in done.stdout, done.stdout
    assert "operation='count_events_by_type'" in done.stdout and "status='completed'" in done.stdout
    conn = await asyncpg.connect(postgres_dsn)
    try:
        rows = await conn.fetch(f'SELECT topic, payload::text AS payload FROM "{pg_schema}".onex_event_store')
    finally:
        await conn.close()
    assert [(r["topic"], r["payload"]) for r in rows] == [("onex.evt.orders.v1", '{"order": 42}')]


async def test_kafka_adapter_sample_publishes_then_consumes_and_commits(
    unique_topic: Callable[..., Awaitable[str]], kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = await unique_topic(3)
    group = f"onex-nodes-guide-{uuid.uuid4().hex[:8]}"

    env = _env(ORDERS_TOPIC=topic, KAFKA_CONSUMER_GROUP=group)
    done = await asyncio.to_thread(_run, _sample("kafka_adapter"), env, tmp_path)

    assert "kind='publish'" in done.stdout, done.stdout
    assert "key=b'42', value=b'{\"order\": 42}'" in done.stdout, done.stdout
    committed = await committed_offsets(kafka_bootstrap, group, topic, 3)
    assert sorted(o for o in committed.values() if o is not None) == [1], committed
