"""A third-party node in an event-store workflow, and what happens without it (issue #14, proof 4.3).

``tests/third_party/onex_field_dropper`` is its own distribution (``onex-field-dropper``):
an ``onex.nodes`` entry point ``field_dropper`` and the ``contract.yaml`` beside its
module. scripts/setup installs it into the test venv. ``compositions/field_dropper_workflow.yaml``
puts its ``drop_payload_field`` step (``with: {field: card_number}``) between decode and
fold of an event-store workflow on its own topic; the running service must store the
events without that field (and with every other field). With the distribution hidden
(``tests/third_party/without_distribution.py``: no metadata, no entry point, no import
path, in that process only), ``contracts check`` and ``onex-infra run`` must fail naming
the node.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import yaml
from service_harness import (
    ONEX_INFRA,
    REPO_ROOT,
    ServiceProcess,
    delete_topics,
    encode,
    make_envelope,
    produce,
    recreate_topics,
)

DISTRIBUTION = "onex-field-dropper"
COMPOSITION = Path(__file__).parent / "compositions" / "field_dropper_workflow.yaml"
WITHOUT = REPO_ROOT / "tests" / "third_party" / "without_distribution.py"


def _topic() -> str:
    document = yaml.safe_load(COMPOSITION.read_text(encoding="utf-8"))
    (consumed,) = document["topics"]["consumes"]
    return str(consumed)


TOPIC = _topic()


def _require_installed() -> None:
    try:
        importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{DISTRIBUTION} is not installed in this venv: run scripts/setup", pytrace=False)


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
async def payments_topic(kafka_bootstrap: str) -> AsyncIterator[str]:
    await recreate_topics(kafka_bootstrap, {TOPIC: 3, TOPIC + ".dlq": 1})
    yield TOPIC
    await delete_topics(kafka_bootstrap, [TOPIC])


async def _rows(
    db: asyncpg.Connection, topic: str, expect: int, within: float = 60.0
) -> list[asyncpg.Record]:
    deadline = time.monotonic() + within
    while True:
        rows = await db.fetch(
            "SELECT envelope_id, payload::text AS payload FROM onex_event_store"
            ' WHERE topic = $1 ORDER BY "offset"',
            topic,
        )
        if len(rows) >= expect or time.monotonic() >= deadline:
            return list(rows)
        await asyncio.sleep(0.2)


async def test_the_installed_node_drops_the_field_before_the_store(
    service: ServiceProcess, payments_topic: str, db: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    _require_installed()
    checked = await asyncio.to_thread(_run, [ONEX_INFRA, "contracts", "check", str(COMPOSITION)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "(node field_dropper, entry_point)" in checked.stdout

    payments = [
        make_envelope({"payment": i, "amount": f"{i}.50", "card_number": f"4111-0000-0000-000{i}"})
        for i in range(5)
    ]
    plain = make_envelope({"payment": 99, "amount": "1.00"})  # no field to drop: stored as it is
    values = [encode(e) for e in payments] + [encode(plain), encode(payments[0])]  # and one duplicate
    await produce(kafka_bootstrap, payments_topic, values, partitions=1)

    service.env["ONEX_CONTRACTS_PATH"] = str(COMPOSITION)
    service.start()
    await service.wait_ready()

    rows = await _rows(db, payments_topic, expect=len(payments) + 1)
    stored = {str(r["envelope_id"]): json.loads(r["payload"]) for r in rows}
    assert stored == {
        **{str(e.envelope_id): {"payment": i, "amount": f"{i}.50"} for i, e in enumerate(payments)},
        str(plain.envelope_id): {"payment": 99, "amount": "1.00"},
    }
    code, _ = service.stop()
    assert code == 0, service.log_tail()


async def test_without_the_distribution_check_and_startup_fail_naming_the_node(
    service: ServiceProcess,
) -> None:
    _require_installed()
    hidden = [sys.executable, str(WITHOUT), DISTRIBUTION]

    checked = await asyncio.to_thread(_run, [*hidden, "contracts", "check", str(COMPOSITION)])
    assert checked.returncode != 0, checked.stdout + checked.stderr
    assert "workflows[0].steps[2].node: no node named 'field_dropper'" in checked.stdout, checked.stdout

    env = {**service.env, "ONEX_CONTRACTS_PATH": str(COMPOSITION)}
    started = await asyncio.to_thread(_run, [*hidden, "run"], env)
    output = started.stdout + started.stderr
    assert started.returncode != 0, output
    assert "refusing to start: invalid contract" in output, output
    assert "workflows[0].steps[2].node: no node named 'field_dropper'" in output, output
