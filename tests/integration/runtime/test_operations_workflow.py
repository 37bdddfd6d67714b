"""Workflow 2 end to end: commands on the bus → contract operations → replies, at most once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from service_harness import ServiceProcess, ServiceTopics, consume_all, encode, make_envelope, produce


async def wait_for(predicate_query: str, db: asyncpg.Connection, expect: int, within: float = 30.0) -> int:
    deadline = time.monotonic() + within
    value = 0
    while time.monotonic() < deadline:
        value = int(await db.fetchval(predicate_query))
        if value >= expect:
            return value
        await asyncio.sleep(0.2)
    return value


async def test_redelivered_command_is_applied_once_and_answered_with_the_same_reply(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    unique_topic: Callable[..., Awaitable[str]],
) -> None:
    target = await unique_topic(1)
    service.env["ONEX_OUTBOX_TOPICS"] = target
    command = make_envelope(
        {
            "operation": "enqueue_outbox_event",
            "parameters": {"topic": target, "key": "k-1", "payload": "hello"},
        },
        event_type="onex.postgres.operation.requested",
    )
    wire = encode(command)
    await produce(kafka_bootstrap, service_topics.command, [wire, wire], partitions=1)
    service.start()
    await service.wait_ready()

    replies = await consume_all(kafka_bootstrap, service_topics.completed, expect=2, within=45)
    envelopes = [json.loads(r.value) for r in replies]  # type: ignore[attr-defined]
    answers = [e for e in envelopes if e.get("parent_envelope_id") == str(command.envelope_id)]
    assert len(answers) == 2, envelopes
    assert answers[0]["envelope_id"] == answers[1]["envelope_id"]
    assert answers[0] == answers[1]
    for answer in answers:
        assert answer["correlation_id"] == str(command.correlation_id)
        assert answer["payload"]["status"] == "completed"
        assert answer["payload"]["operation"] == "enqueue_outbox_event"
    assert await db.fetchval("SELECT count(*) FROM onex_outbox WHERE key = convert_to('k-1', 'UTF8')") == 1
    assert await db.fetchval("SELECT count(*) FROM onex_inbox") == 1
    code, _ = service.stop()
    assert code == 0


async def test_bad_commands_get_typed_failed_replies_and_go_to_the_dlq(
    service: ServiceProcess, service_topics: ServiceTopics, kafka_bootstrap: str
) -> None:
    spoofed = make_envelope({"operation": "DROP TABLE onex_event_store", "parameters": {}})
    hidden = make_envelope({"operation": "get_event_by_id; DELETE FROM onex_inbox", "parameters": {}})
    wrong_params = make_envelope(
        {"operation": "list_events_by_type", "parameters": {"event_type": 42, "extra": "x"}}
    )
    data_error = make_envelope(
        {"operation": "get_event_by_id", "parameters": {"envelope_id": "'; DROP TABLE x; --"}}
    )
    good = make_envelope({"operation": "count_events_by_type", "parameters": {}})
    values = [encode(e) for e in (spoofed, hidden, wrong_params, data_error, good)]
    await produce(kafka_bootstrap, service_topics.command, values, partitions=1)
    service.start()
    await service.wait_ready()

    failed = await consume_all(kafka_bootstrap, service_topics.failed, expect=4, within=45)
    kinds = {
        json.loads(r.value)["parent_envelope_id"]: json.loads(r.value)["payload"]["error"]  # type: ignore[attr-defined]
        for r in failed
    }
    assert kinds[str(spoofed.envelope_id)]["kind"] == "unknown_operation"
    assert kinds[str(hidden.envelope_id)]["kind"] == "unknown_operation"
    assert kinds[str(wrong_params.envelope_id)]["kind"] == "invalid_parameters"
    # format: uuid is asserted, so the injection string never reaches PostgreSQL
    assert kinds[str(data_error.envelope_id)]["kind"] == "invalid_parameters"
    assert "is not a 'uuid'" in kinds[str(data_error.envelope_id)]["message"]
    for error in kinds.values():
        text = json.dumps(error)
        assert "password" not in text.lower()
        assert service.env["POSTGRES_PASSWORD"] not in text
    completed = await consume_all(kafka_bootstrap, service_topics.completed, expect=1, within=30)
    assert [json.loads(r.value)["parent_envelope_id"] for r in completed] == [str(good.envelope_id)]  # type: ignore[attr-defined]

    dlq = await consume_all(kafka_bootstrap, service_topics.command + ".dlq", expect=4, within=30)
    offsets = sorted(
        int(dict(r.headers)["onex.dlq.original.offset"].decode())
        for r in dlq  # type: ignore[attr-defined]
    )
    assert offsets == [0, 1, 2, 3]
    code, _ = service.stop()
    assert code == 0


EXTRA_OPERATIONS = """\
kind: operations
target_node: postgres_adapter
operations:
  - name: set_component_status
    description: record a component status by hand (a user-added operation)
    read_only: false
    exposed: true
    returns: none
    sql: >-
      INSERT INTO onex_infrastructure_state (component, status) VALUES ($1, $2)
      ON CONFLICT (component) DO UPDATE SET status = EXCLUDED.status
    parameters:
      - {name: component, schema: {type: string, minLength: 1}}
      - {name: status, schema: {type: string}}
"""


async def test_user_added_operation_runs_and_its_constraint_violation_goes_to_the_dlq(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    extra = tmp_path / "extra_operations.yaml"
    extra.write_text(EXTRA_OPERATIONS)
    service.env["ONEX_CONTRACTS_PATH"] = str(extra)
    ok = make_envelope(
        {"operation": "set_component_status", "parameters": {"component": "manual", "status": "degraded"}}
    )
    violation = make_envelope(
        {"operation": "set_component_status", "parameters": {"component": "manual", "status": "bogus"}}
    )
    await produce(kafka_bootstrap, service_topics.command, [encode(ok), encode(violation)], partitions=1)
    service.start()
    await service.wait_ready()
    failed = await consume_all(kafka_bootstrap, service_topics.failed, expect=1, within=45)
    error = json.loads(failed[0].value)["payload"]["error"]  # type: ignore[attr-defined]
    assert error["kind"] == "sql_error"
    assert error["sqlstate"] == "23514"  # check_violation
    dlq = await consume_all(kafka_bootstrap, service_topics.command + ".dlq", expect=1, within=30)
    headers = dict(dlq[0].headers)  # type: ignore[attr-defined]
    assert headers["onex.dlq.original.offset"] == b"1"
    assert headers["onex.dlq.stage"] == b"operation"
    assert headers["onex.dlq.error.class"] == b"SQLSTATE 23514"
    assert await db.fetchval("SELECT status FROM onex_infrastructure_state WHERE component = 'manual'") == (
        "degraded"
    )
    code, _ = service.stop()
    assert code == 0
