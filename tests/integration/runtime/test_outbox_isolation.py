"""The outbox relay against the real servers: bad rows are isolated, forged enqueues are refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import asyncpg
from service_harness import (
    ONEX_INFRA,
    ServiceProcess,
    ServiceTopics,
    consume_all,
    encode,
    make_envelope,
    produce,
)

TopicFactory = Callable[..., Awaitable[str]]


async def wait_statuses(
    db: asyncpg.Connection, expect: dict[str, int], within: float = 60.0
) -> dict[str, int]:
    """Poll the rows per status until they are ``expect`` (or time runs out); return the last counts."""
    deadline = time.monotonic() + within
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        rows = await db.fetch("SELECT status, count(*) AS n FROM onex_outbox GROUP BY status")
        counts = {r["status"]: int(r["n"]) for r in rows}
        if counts == expect:
            break
        await asyncio.sleep(0.3)
    return counts


async def insert(
    db: asyncpg.Connection, topic: str, key: str | None, payload: bytes, headers: str = "[]"
) -> int:
    row_id = await db.fetchval(
        "INSERT INTO onex_outbox (topic, key, payload, headers) VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
        topic,
        key.encode() if key is not None else None,
        payload,
        headers,
    )
    return int(row_id)


async def test_bad_rows_go_to_dead_letter_with_their_reason_and_their_keys_wait(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    unique_topic: TopicFactory,
) -> None:
    target = await unique_topic(3)
    small = await unique_topic(1, configs={"max.message.bytes": "2000"})
    missing = f"onex.evt.test.{uuid.uuid4().hex[:8]}.v1"  # declared for the relay, never created
    service.env["ONEX_OUTBOX_TOPICS"] = f"{target},{small},{missing}"
    bad: dict[str, int] = {}
    topic_of: dict[str, str] = {}
    held: dict[str, int] = {}
    good: list[str] = []
    for n in range(3):
        for key in ("g1", "g2", "g3", "g4"):
            good.append(f"{key}:{n}")
            await insert(db, target, key, good[-1].encode())
    good.append("headers:0")
    await insert(db, target, "headers", b"headers:0")
    bad["headers"] = await insert(db, target, "headers", b"headers:1", '{"traceparent": "00-abc"}')
    bad["undeclared"] = await insert(db, "onex.evt.test.undeclared.v1", "undeclared", b"undeclared:0")
    bad["reply"] = await insert(db, service_topics.completed, "reply", b"reply:0")
    bad["command"] = await insert(db, service_topics.command, "command", b"command:0")
    bad["large"] = await insert(db, small, "large", os.urandom(5000))
    bad["missing"] = await insert(db, missing, "missing", b"missing:0")
    # An application row naming the state topic is a forged state event: the ACL refuses it.
    bad["state"] = await insert(db, service_topics.state, "postgres", b"forged state:0")
    for name, row_id in bad.items():
        topic_of[name] = await db.fetchval("SELECT topic FROM onex_outbox WHERE id = $1", row_id)
        key = "postgres" if name == "state" else name
        held[name] = await insert(db, topic_of[name], key, f"{name}:2".encode())
    # Order is per (topic, key): the forged state row keyed postgres holds back no other topic.
    good.append("cross:0")
    await insert(db, target, "postgres", b"cross:0")
    # Rows without a key have no order: a bad one holds nothing back.
    bad["nokey"] = await insert(db, target, None, b"nokey:0", '{"not": "a list"}')
    good.append("nokey:1")
    await insert(db, target, None, b"nokey:1")

    service.start()
    await service.wait_ready()
    expect = {"published": len(good), "dead_letter": len(bad), "pending": len(held)}
    if await wait_statuses(db, expect) != expect:
        rows = await db.fetch("SELECT id, key, status, attempts, last_error FROM onex_outbox ORDER BY id")
        raise AssertionError("\n".join(str(tuple(r.values())) for r in rows))

    errors = {
        int(r["id"]): (r["status"], r["attempts"], r["last_error"])
        for r in await db.fetch("SELECT id, status, attempts, last_error FROM onex_outbox")
    }
    reasons = {
        "headers": "outbox: MalformedHeaders: headers must be a JSON array of [name, base64 value] pairs, "
        "not a JSON object",
        "undeclared": "acl: TopicNotAllowed: topic onex.evt.test.undeclared.v1 is not allowed for relay",
        "reply": f"acl: TopicNotAllowed: topic {service_topics.completed} is not allowed for relay",
        "command": f"acl: TopicNotAllowed: topic {service_topics.command} is not allowed for relay",
        "large": "kafka_send: ",
        "missing": f"outbox: UnknownTopic: topic {missing} does not exist on the brokers",
        "state": f"acl: TopicNotAllowed: topic {service_topics.state} is not allowed for relay: "
        "the state topic is relayed only from rows the service spilled itself",
        "nokey": "outbox: MalformedHeaders: ",
    }
    for name, row_id in bad.items():
        status, attempts, error = errors[row_id]
        assert (status, attempts) == ("dead_letter", 1), name
        assert error.startswith(reasons[name]), (name, error)
    assert "TooLarge" in errors[bad["large"]][2]
    for name, row_id in held.items():
        assert errors[row_id] == ("pending", 0, None), f"the row behind {name} must wait"

    records = await consume_all(kafka_bootstrap, target, expect=len(good), within=30)
    seen = Counter(r.value.decode() for r in records)  # type: ignore[attr-defined]
    assert seen == Counter(good), "every good row exactly once, nothing of a held key"
    for key in ("g1", "g2", "g3", "g4"):
        numbers = [int(r.value.decode().split(":")[1]) for r in records if r.key == key.encode()]  # type: ignore[attr-defined]
        assert numbers == [0, 1, 2]
    forged = await consume_all(kafka_bootstrap, service_topics.completed, expect=1, within=3)
    assert forged == [], "nothing reached the reply topic"
    assert (await consume_all(kafka_bootstrap, service_topics.command, expect=1, within=3)) == []
    state_events = await consume_all(kafka_bootstrap, service_topics.state, expect=1000, within=3)
    assert [r for r in state_events if b"forged state" in r.value or b"state:2" in r.value] == [], (  # type: ignore[attr-defined]
        "no application row reached the state topic"
    )

    # The runbook: fix the cause, requeue; the row and the one held behind it go out in order.
    await db.execute("UPDATE onex_outbox SET headers = '[]'::jsonb WHERE id = $1", bad["headers"])
    requeued = await asyncio.to_thread(
        subprocess.run,
        [ONEX_INFRA, "outbox", "requeue", str(bad["headers"]), str(held["headers"]), "--json"],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert requeued.returncode == 1, requeued.stderr  # the held row was never dead_letter
    document = json.loads(requeued.stdout)
    assert document["requeued"] == [{"id": bad["headers"], "topic": target}]
    assert document["refused"] == [{"id": held["headers"], "reason": "status is pending, not dead_letter"}]
    expect = {"published": len(good) + 2, "dead_letter": len(bad) - 1, "pending": len(held) - 1}
    assert await wait_statuses(db, expect) == expect
    records = await consume_all(kafka_bootstrap, target, expect=len(good) + 2, within=30)
    assert [r.value for r in records if r.key == b"headers"] == [b"headers:0", b"headers:1", b"headers:2"]  # type: ignore[attr-defined]
    code, _ = service.stop()
    assert code == 0


async def test_forged_enqueues_get_topic_not_allowed_and_insert_nothing(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    unique_topic: TopicFactory,
) -> None:
    target = await unique_topic(1)
    service.env["ONEX_OUTBOX_TOPICS"] = target
    forged_topics = {
        "command": service_topics.command,
        "reply": service_topics.completed,
        "state": service_topics.state,
        "undeclared": "onex.evt.test.undeclared.v1",
    }
    commands = {
        name: make_envelope(
            {
                "operation": "enqueue_outbox_event",
                "parameters": {"topic": topic, "key": name, "payload": f"forged {name}"},
            },
            event_type="onex.postgres.operation.requested",
        )
        for name, topic in forged_topics.items()
    }
    allowed = make_envelope(
        {"operation": "enqueue_outbox_event", "parameters": {"topic": target, "payload": "allowed"}},
        event_type="onex.postgres.operation.requested",
    )
    await produce(
        kafka_bootstrap,
        service_topics.command,
        [encode(e) for e in (*commands.values(), allowed)],
        partitions=1,
    )
    service.start()
    await service.wait_ready()

    failed = await consume_all(kafka_bootstrap, service_topics.failed, expect=len(commands), within=45)
    replies = {json.loads(r.value)["parent_envelope_id"]: json.loads(r.value) for r in failed}  # type: ignore[attr-defined]
    for name, command in commands.items():
        error = replies[str(command.envelope_id)]["payload"]["error"]
        assert error["kind"] == "topic_not_allowed", name
        assert error["message"].startswith(f"topic {forged_topics[name]} is not allowed for relay"), name
    completed = await consume_all(kafka_bootstrap, service_topics.completed, expect=1, within=30)
    assert [json.loads(r.value)["parent_envelope_id"] for r in completed] == [str(allowed.envelope_id)]  # type: ignore[attr-defined]
    published = await consume_all(kafka_bootstrap, target, expect=1, within=30)
    assert [r.value for r in published] == [b"allowed"]  # type: ignore[attr-defined]
    assert [r["topic"] for r in await db.fetch("SELECT topic FROM onex_outbox")] == [target]
    dlq = await consume_all(kafka_bootstrap, f"{service_topics.command}.dlq", expect=len(commands), within=30)
    assert len(dlq) == len(commands), "each refused command is dead-lettered like other failed commands"
    code, _ = service.stop()
    assert code == 0
