"""The operations workflow on a scripted connection: a reply is published, or replaced once.

A reply the broker refuses for good becomes a small failed reply kept in the inbox; an outage
while publishing rewinds the batch (``test_command_failures`` has the scripted connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import pytest
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.errors import OutageError, PoisonRecordError
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope
from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.records import Partition, ProtocolConsumerRecord, read_dlq_headers

from .fakes import FakePublisher, FakeRecord
from .test_command_failures import COMMANDS, COMPLETED, FAILED, ScriptedConnection, command, executor, rows
from .workflow_harness import WorkflowHarness, host_workflows

# -- the operations workflow: the reply is published, or replaced once ------------------------


class OneConnection:
    """A pool of one connection: lent again only once it is back (reset)."""

    def __init__(self, conn: ScriptedConnection) -> None:
        self.conn = conn
        self._lent = asyncio.Lock()

    @asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[object]:
        async with self._lent:
            try:
                yield self.conn
            finally:
                self.conn.read_session = False  # asyncpg's pool resets a connection it takes back (RESET ALL)


async def hosted(conn: ScriptedConnection, publisher: FakePublisher) -> WorkflowHarness:
    """The hosted nodes running the ``operations`` workflow on ``conn`` (``workflow_harness``)."""
    return await host_workflows(
        database=cast("object", OneConnection(conn)),  # type: ignore[arg-type]  # a scripted pool
        executor=executor(),
        publisher=publisher,
    )


def commands(*requests: ModelEventEnvelope[JsonValue]) -> dict[Partition, list[ProtocolConsumerRecord]]:
    records: list[ProtocolConsumerRecord] = [
        FakeRecord(COMMANDS, 0, offset, b"k", encode_envelope(r), ()) for offset, r in enumerate(requests)
    ]
    return {Partition(COMMANDS, 0): records}


TOO_LARGE = PoisonRecordError("kafka_send", "aiokafka.errors.MessageSizeTooLargeError", "1.5 MB")


async def test_a_refused_reply_is_answered_once_with_a_failed_reply_and_the_batch_goes_on() -> None:
    conn = ScriptedConnection(rows({"id": 1}))
    publisher = FakePublisher()
    publisher.failures = [TOO_LARGE]  # the first reply; everything after it goes through
    big, small = command("read_things"), command("read_things")

    await (await hosted(conn, publisher)).gateway.handle(commands(big, small))

    [refused] = publisher.to(FAILED)
    reply = decode_envelope(refused.value)
    assert reply.parent_envelope_id == big.envelope_id
    assert isinstance(reply.payload, dict) and reply.payload["error"]["kind"] == "reply_too_large"  # type: ignore[index,call-overload]
    [answered] = publisher.to(COMPLETED)
    assert decode_envelope(answered.value).parent_envelope_id == small.envelope_id
    assert conn.inbox[big.envelope_id] == (FAILED, refused.value)
    [letter] = publisher.to(COMMANDS + ".dlq")
    context = read_dlq_headers(letter.headers or ())
    assert (context["original.offset"], context["error.class"], context["attempts"]) == (
        "0",
        "ReplyTooLarge",
        "1",
    )


async def test_a_failed_reply_that_meets_a_kafka_outage_raises_so_the_batch_is_rewound() -> None:
    conn = ScriptedConnection(rows({"id": 1}))
    publisher = FakePublisher()
    publisher.failures = [TOO_LARGE, OutageError("Kafka unavailable")]

    with pytest.raises(OutageError):
        await (await hosted(conn, publisher)).gateway.handle(commands(command("read_things")))

    assert publisher.sent == []


async def test_attempts_count_the_tries_of_rewound_batches() -> None:
    publisher = FakePublisher()
    run = (await hosted(ScriptedConnection(rows()), publisher)).gateway
    batch = commands(command("no_such_operation"))
    publisher.failures = [None, OutageError("Kafka unavailable")]  # the reply goes, the DLQ write does not

    with pytest.raises(OutageError):
        await run.handle(batch)
    await run.handle(batch)

    [letter] = publisher.to(COMMANDS + ".dlq")
    assert read_dlq_headers(letter.headers or ())["attempts"] == "2"
    await run.handle(commands(command("no_such_operation")))  # a new record at offset 0 again
    assert read_dlq_headers(publisher.to(COMMANDS + ".dlq")[-1].headers or ())["attempts"] == "1"


async def test_a_failed_reply_refused_because_of_the_commands_key_is_sent_without_it() -> None:
    conn = ScriptedConnection(rows({"id": 1}))
    publisher = FakePublisher()
    publisher.failures = [TOO_LARGE, TOO_LARGE]  # the reply, then its substitute with the same key

    await (await hosted(conn, publisher)).gateway.handle(commands(command("read_things")))

    [refused] = publisher.to(FAILED)
    assert refused.key is None
    assert publisher.attempts == 4  # reply, substitute, substitute without key, dead letter
    assert len(publisher.to(COMMANDS + ".dlq")) == 1


async def test_a_reply_the_topic_acl_refuses_is_replaced_and_the_others_of_the_batch_go() -> None:
    conn = ScriptedConnection(rows({"id": 1}))
    publisher = FakePublisher()
    stale, fresh = command("read_things"), command("read_things")
    # A redelivery whose kept reply names a topic the ACL no longer allows (a renamed topic).
    conn.inbox[stale.envelope_id] = ("onex.evt.undeclared.v1", b"the reply kept before")

    await (await hosted(conn, publisher)).gateway.handle(commands(stale, fresh))

    assert publisher.to("onex.evt.undeclared.v1") == [], "nothing goes where the ACL refuses"
    [answered] = publisher.to(COMPLETED)
    assert decode_envelope(answered.value).parent_envelope_id == fresh.envelope_id
    [replaced] = publisher.to(FAILED)
    assert decode_envelope(replaced.value).parent_envelope_id == stale.envelope_id
    assert conn.inbox[stale.envelope_id] == (FAILED, replaced.value), "answered once, for good"


async def test_an_outage_of_one_reply_raises_once_every_reply_of_the_batch_settled() -> None:
    conn = ScriptedConnection(rows({"id": 1}))
    publisher = FakePublisher()
    publisher.failures = [OutageError("Kafka unavailable")]  # the first reply; the second goes

    with pytest.raises(OutageError):
        await (await hosted(conn, publisher)).gateway.handle(
            commands(command("read_things"), command("read_things"))
        )

    assert publisher.attempts == 2, "the second reply was sent before the outage was raised"
    assert [s.topic for s in publisher.sent] == [COMPLETED]
