"""A workflow declared by a composition file alone runs in the service (issue #14, proof 4.2).

``compositions/forward_workflow.yaml`` (beside this file) is passed, as it is, on
``ONEX_CONTRACTS_PATH`` to ``onex-infra run``: consume its input topic → kafka_wrapper
``decode_events`` → kafka_adapter ``publish_events`` (forward to its output topic) →
``publish_dead_letters`` → ``commit_offsets``. No code names those topics or that workflow.
Valid envelopes must arrive on the output topic with the same key, value and headers, in
order; poison must arrive on ``input.dlq`` with its original coordinates; the group's
offset must move past every record. The topics are the file's own: they are recreated
empty for the test and deleted after it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from service_harness import (
    ServiceProcess,
    committed_offsets,
    consume_all,
    delete_topics,
    encode,
    make_envelope,
    produce,
    recreate_topics,
)

from omnibase_infra.workflow.records import read_dlq_headers

COMPOSITION = Path(__file__).parent / "compositions" / "forward_workflow.yaml"


def _file_topics() -> tuple[str, str]:
    document = yaml.safe_load(COMPOSITION.read_text(encoding="utf-8"))
    steps = document["workflows"][0]["steps"]
    consumed = next(s["consumes"] for s in steps if s["operation"] == "consume")
    forwarded = next(s["publishes"] for s in steps if s["operation"] == "publish_events")
    assert len(consumed) == 1 and len(forwarded) == 1, steps
    return consumed[0], forwarded[0]


INPUT, OUTPUT = _file_topics()


@pytest.fixture
async def file_topics(kafka_bootstrap: str) -> AsyncIterator[tuple[str, str]]:
    """The composition's input, its DLQ and output topics, created empty; deleted afterwards."""
    await recreate_topics(kafka_bootstrap, {INPUT: 3, INPUT + ".dlq": 1, OUTPUT: 1})
    yield INPUT, OUTPUT
    await delete_topics(kafka_bootstrap, [INPUT, OUTPUT])


async def test_a_composition_file_alone_forwards_valid_envelopes_and_dead_letters_poison(
    service: ServiceProcess, file_topics: tuple[str, str], kafka_bootstrap: str
) -> None:
    source, target = file_topics
    good = [encode(make_envelope({"i": i}, event_type="proofs.forwarded")) for i in range(12)]
    poison = [b"{ not json", json.dumps({"no": "payload"}).encode(), b"\xff\xfe not utf-8"]
    values = good[:4] + poison[:1] + good[4:8] + poison[1:] + good[8:]
    keys: list[bytes | None] = [f"k{i}".encode() for i in range(len(values))]
    headers = [("origin", b"proof-4.2")]
    await produce(kafka_bootstrap, source, values, partitions=1, keys=keys, headers=headers)

    service.env["ONEX_CONTRACTS_PATH"] = str(COMPOSITION)
    service.start()
    await service.wait_ready()

    forwarded = await consume_all(kafka_bootstrap, target, expect=len(good), within=60)
    assert [(r.key, r.value) for r in forwarded] == [  # type: ignore[attr-defined]
        (keys[i], v) for i, v in enumerate(values) if v in good
    ]
    assert all(("origin", b"proof-4.2") in list(r.headers) for r in forwarded)  # type: ignore[attr-defined]

    dlq = await consume_all(kafka_bootstrap, source + ".dlq", expect=len(poison), within=30)
    parked = {}
    for record in dlq:
        found = read_dlq_headers(record.headers)  # type: ignore[attr-defined]
        assert (found["original.topic"], found["original.partition"]) == (source, "0"), found
        assert found["stage"] in ("decode", "validate") and found["error.class"], found
        parked[int(found["original.offset"])] = record.value  # type: ignore[attr-defined]
    assert parked == {i: v for i, v in enumerate(values) if v in poison}

    deadline = time.monotonic() + 30
    while (await committed_offsets(kafka_bootstrap, service.env["KAFKA_CONSUMER_GROUP"], source, 3))[
        0
    ] != len(values):
        assert time.monotonic() < deadline, "the workflow did not commit past every record"
        await asyncio.sleep(0.5)
    code, _ = service.stop()
    assert code == 0, service.log_tail()
