"""Dead letters: T.dlq records keep the original record and name where and why it failed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnibase_infra.errors import OutageError, PoisonRecordError
from omnibase_infra.nodes.kafka_adapter.v1_0_0.dead_letter import DeadLetterWriter
from omnibase_infra.workflow.records import (
    ATTEMPTS_HEADER,
    HEADER_PREFIX,
    MAX_MESSAGE_BYTES,
    VALUE_DROPPED_HEADER,
    DeadLetter,
    SourceRecord,
    dlq_topic_for,
    is_dlq_topic,
    prior_attempts,
    read_dlq_headers,
)

from .fakes import FakePublisher

TOPIC = "onex.evt.orders.created.v1"
FAILED_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def make_record(
    topic: str = TOPIC, headers: tuple[tuple[str, bytes], ...] = (), value: bytes | None = b"\xffbad"
) -> SourceRecord:
    return SourceRecord(topic, 3, 1234, b"order-17", value, headers)


def make_letter(record: SourceRecord | None = None, message: str = "invalid UTF-8 at byte 0") -> DeadLetter:
    return DeadLetter(record or make_record(), "decode", "UnicodeDecodeError", message, 2, FAILED_AT)


def test_headers_name_the_origin_stage_error_attempts_and_time() -> None:
    context = read_dlq_headers(make_letter().headers())

    assert context == {
        "original.topic": TOPIC,
        "original.partition": "3",
        "original.offset": "1234",
        "stage": "decode",
        "error.class": "UnicodeDecodeError",
        "error.message": "invalid UTF-8 at byte 0",
        "attempts": "2",
        "failed_at": "2026-03-04T05:06:07+00:00",
    }


def test_original_headers_are_kept_first_and_in_order() -> None:
    original = (("traceparent", b"00-abc-def-01"), ("x-tenant", b"acme"), ("x-tenant", b"second"))

    headers = make_letter(make_record(headers=original)).headers()

    assert tuple(headers[: len(original)]) == original
    assert all(name.startswith(HEADER_PREFIX) for name, _ in headers[len(original) :])


def test_earlier_dlq_headers_are_replaced_not_duplicated() -> None:
    original = (
        ("traceparent", b"00-abc-def-01"),
        (HEADER_PREFIX + "stage", b"validate"),
        (HEADER_PREFIX + "attempts", b"1"),
        (HEADER_PREFIX + "original.topic", b"somewhere.else"),
    )

    headers = make_letter(make_record(headers=original)).headers()

    dlq_names = [name for name, _ in headers if name.startswith(HEADER_PREFIX)]
    assert len(dlq_names) == len(set(dlq_names)) == 8
    assert read_dlq_headers(headers)["stage"] == "decode"
    assert read_dlq_headers(headers)["attempts"] == "2"
    assert read_dlq_headers(headers)["original.topic"] == TOPIC
    assert headers[0] == ("traceparent", b"00-abc-def-01")


def test_long_message_is_truncated_on_a_character_boundary() -> None:
    letter = make_letter(message="€" * 1000)  # 3 bytes each: 3000 bytes

    raw = dict(letter.headers())[HEADER_PREFIX + "error.message"]

    assert MAX_MESSAGE_BYTES - 3 < len(raw) <= MAX_MESSAGE_BYTES
    assert raw.decode("utf-8") == "€" * (len(raw) // 3)


def test_short_message_is_kept_whole() -> None:
    raw = dict(make_letter(message="x" * MAX_MESSAGE_BYTES).headers())[HEADER_PREFIX + "error.message"]

    assert raw == b"x" * MAX_MESSAGE_BYTES


def test_from_error_copies_stage_class_and_reason() -> None:
    error = PoisonRecordError("validate", "ValidationError", "payload: Field required")

    letter = DeadLetter.from_error(make_record(), error, FAILED_AT)

    assert (letter.stage, letter.error_class, letter.message) == (
        "validate",
        "ValidationError",
        "payload: Field required",
    )
    assert letter.attempts == 1
    assert letter.failed_at == FAILED_AT


def test_attempts_count_the_tries_here_plus_those_the_record_carries() -> None:
    error = PoisonRecordError("operation", "UnknownOperation", "no operation named 'x'")
    replayed = make_record(headers=(("traceparent", b"00-abc-def-01"), (ATTEMPTS_HEADER, b"3")))

    assert DeadLetter.from_error(make_record(), error, FAILED_AT, tries=2).attempts == 2
    letter = DeadLetter.from_error(replayed, error, FAILED_AT)
    assert letter.attempts == 4
    assert read_dlq_headers(letter.headers())["attempts"] == "4"
    assert [name for name, _ in letter.headers()].count(ATTEMPTS_HEADER) == 1


@pytest.mark.parametrize(("raw", "expected"), [(b"7", 7), (b" 12 ", 12), (b"-1", 0), (b"x", 0), (b"", 0)])
def test_prior_attempts_reads_a_non_negative_count_or_nothing(raw: bytes, expected: int) -> None:
    assert prior_attempts([("other", b"9"), (ATTEMPTS_HEADER, raw)]) == expected
    assert prior_attempts([("other", b"9")]) == 0


def test_dlq_topic_naming() -> None:
    assert dlq_topic_for(TOPIC) == TOPIC + ".dlq"
    assert is_dlq_topic(TOPIC + ".dlq")
    assert not is_dlq_topic(TOPIC)
    assert not is_dlq_topic("onex.evt.dlq-stats.v1")


async def test_writer_sends_to_the_dlq_topic_with_original_key_value_and_headers() -> None:
    publisher = FakePublisher()
    writer = DeadLetterWriter(publisher)
    letter = make_letter(make_record(headers=(("traceparent", b"00-abc-def-01"),)))

    ack = await writer.write(letter)

    assert len(publisher.sent) == 1
    sent = publisher.sent[0]
    assert sent.topic == TOPIC + ".dlq"
    assert sent.key == b"order-17"
    assert sent.value == b"\xffbad"
    assert list(sent.headers or ()) == letter.headers()
    assert ack == (0, 0)
    assert writer.written == 1


async def test_writer_sends_an_empty_value_for_a_tombstone() -> None:
    publisher = FakePublisher()

    await DeadLetterWriter(publisher).write(make_letter(make_record(value=None)))

    assert publisher.sent[0].value == b""


async def test_writer_refuses_to_dead_letter_a_dlq_record() -> None:
    publisher = FakePublisher()
    writer = DeadLetterWriter(publisher)

    with pytest.raises(ValueError, match="DLQ topic"):
        await writer.write(make_letter(make_record(topic=TOPIC + ".dlq")))

    assert publisher.sent == []
    assert writer.written == 0


async def test_writer_propagates_a_publish_outage_and_counts_nothing() -> None:
    publisher = FakePublisher()
    publisher.failures.append(OutageError("broker unavailable"))
    writer = DeadLetterWriter(publisher)

    with pytest.raises(OutageError):
        await writer.write(make_letter())

    assert writer.written == 0


async def test_writer_drops_the_value_of_a_copy_the_broker_refuses() -> None:
    publisher = FakePublisher()
    publisher.failures.append(PoisonRecordError("kafka_send", "MessageSizeTooLargeError", "too large"))
    writer = DeadLetterWriter(publisher)
    letter = make_letter(make_record(value=b"x" * 5000))

    await writer.write(letter)

    assert publisher.attempts == 2
    sent = publisher.sent[0]
    assert sent.value == b""
    assert list(sent.headers or ())[:-1] == letter.headers()
    assert dict(sent.headers or ())[VALUE_DROPPED_HEADER] == b"5000"
    assert writer.written == 1


async def test_writer_propagates_a_refused_copy_that_has_no_value() -> None:
    publisher = FakePublisher()
    publisher.fail_always = PoisonRecordError("kafka_send", "InvalidTopicError", "bad topic")
    writer = DeadLetterWriter(publisher)

    with pytest.raises(PoisonRecordError):
        await writer.write(make_letter(make_record(value=None)))

    assert writer.written == 0


def test_read_dlq_headers_ignores_other_headers() -> None:
    headers = [("traceparent", b"00"), (HEADER_PREFIX + "stage", b"store")]

    assert read_dlq_headers(headers) == {"stage": "store"}


async def test_writer_consults_the_topic_acl_before_sending() -> None:
    from omnibase_infra.errors import TopicNotAllowedError
    from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl

    publisher = FakePublisher()
    allowed = TopicAcl(reply=(), relay=(), state=(), consumed=(TOPIC,))
    await DeadLetterWriter(publisher, allowed).write(make_letter(make_record()))
    assert [r.topic for r in publisher.sent] == [TOPIC + ".dlq"]

    elsewhere = TopicAcl(reply=(), relay=(), state=(), consumed=("onex.evt.other.topic.v1",))
    with pytest.raises(TopicNotAllowedError, match=rf"topic {TOPIC}\.dlq is not allowed for dead_letter"):
        await DeadLetterWriter(publisher, elsewhere).write(make_letter(make_record()))
    assert len(publisher.sent) == 1, "nothing sent to a refused topic"
