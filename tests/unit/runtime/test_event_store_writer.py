"""Pure parts of the event-store writer: rows from envelopes and the poison classification of errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from omnibase_core.models.core.model_envelope_metadata import ModelEnvelopeMetadata
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import stored_fields_of
from omnibase_infra.nodes.postgres_adapter.v1_0_0 import event_store_writer
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import (
    copy_text,
    poison_from_database_error,
)
from omnibase_infra.workflow.dlq_stages import STAGE_STORE
from omnibase_infra.workflow.records import SourceRecord, StoredEvent

SOURCE = SourceRecord("onex.evt.orders.created.v1", 2, 41, b"order-1", b"raw", (("h", b"v"),))


class FakePostgresError(Exception):
    """Carries ``sqlstate`` like asyncpg's ``PostgresError``."""

    def __init__(self, sqlstate: object, message: str = "boom") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def test_row_takes_envelope_fields_and_kafka_coordinates() -> None:
    correlation = uuid.uuid4()
    stamped = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    envelope = ModelEventEnvelope[JsonValue](
        payload={"sku": "A-1", "qty": 2, "note": None},
        correlation_id=correlation,
        event_type="onex.evt.orders.created.v1",
        envelope_timestamp=stamped,
    )

    row = StoredEvent.from_fields(SOURCE, stored_fields_of(envelope))

    assert row.envelope_id == str(envelope.envelope_id)
    assert (row.topic, row.partition, row.offset) == ("onex.evt.orders.created.v1", 2, 41)
    assert row.event_type == "onex.evt.orders.created.v1"
    assert row.correlation_id == str(correlation)
    assert row.envelope_timestamp == "2026-02-03T04:05:06+00:00"
    assert json.loads(row.payload_json) == {"sku": "A-1", "qty": 2, "note": None}
    assert row.source is SOURCE


def test_row_metadata_is_json_without_none_fields() -> None:
    metadata = ModelEnvelopeMetadata(tags={"team": "orders"})
    envelope = ModelEventEnvelope[JsonValue](payload=[1, 2], metadata=metadata)

    row = StoredEvent.from_fields(SOURCE, stored_fields_of(envelope))

    document = json.loads(row.metadata_json)
    assert document["tags"] == {"team": "orders"}
    assert None not in document.values()
    assert row.correlation_id is None
    assert row.event_type is None


@pytest.mark.parametrize("sqlstate", ["22P02", "22001", "22021", "23505", "23503", "23514"])
def test_data_and_constraint_errors_are_poison(sqlstate: str) -> None:
    poison = poison_from_database_error(FakePostgresError(sqlstate, "bad value"))

    assert poison is not None
    assert poison.stage == STAGE_STORE
    assert poison.poison_class == f"SQLSTATE {sqlstate}"
    assert "FakePostgresError" in poison.reason
    assert "bad value" in poison.reason


@pytest.mark.parametrize(
    "sqlstate", ["08006", "08001", "57P01", "53300", "40001", "42P01", "XX000", "", 23505]
)
def test_other_errors_are_not_poison(sqlstate: object) -> None:
    assert poison_from_database_error(FakePostgresError(sqlstate)) is None


def test_errors_without_sqlstate_are_not_poison() -> None:
    assert poison_from_database_error(ConnectionResetError("reset")) is None
    assert poison_from_database_error(TimeoutError()) is None


def test_poison_detail_is_bounded() -> None:
    poison = poison_from_database_error(FakePostgresError("23505", "x" * 5000))

    assert poison is not None
    assert len(poison.reason) <= 300


def _row(event_type: str | None, payload: str, correlation: str | None = "c") -> StoredEvent:
    return StoredEvent("i", "t", 1, 2, event_type, correlation, "2026-02-03T04:05:06Z", payload, "{}", SOURCE)


def test_copy_text_is_one_tab_separated_line_per_row_with_null_markers() -> None:
    rows = [_row("e", '{"a":1}'), _row(None, "[]", None)]
    assert copy_text(rows) == (
        b'i\tt\t1\t2\te\tc\t2026-02-03T04:05:06Z\t{"a":1}\t{}\n'
        b"i\tt\t1\t2\t\\N\t\\N\t2026-02-03T04:05:06Z\t[]\t{}\n"
    )


@pytest.mark.parametrize(
    ("event_type", "payload", "escaped_type", "escaped_payload"),
    [
        ("a\tb", "1", b"a\\tb", b"1"),
        ("a\nb\rc", "1", b"a\\nb\\rc", b"1"),
        ("\\N", '"\\\\"', b"\\\\N", b'"\\\\\\\\"'),  # a text "\N" is not NULL
        ("N", '{"s":"\\"q"}', b"N", b'{"s":"\\\\"q"}'),
        ("Zo\u00eb", '"\u20ac"', "Zo\u00eb".encode(), '"\u20ac"'.encode()),
    ],
)
def test_copy_text_escapes_what_copy_would_read_otherwise(
    event_type: str, payload: str, escaped_type: bytes, escaped_payload: bytes
) -> None:
    rows = [_row("plain", "0"), _row(event_type, payload, None)]
    lines = copy_text(rows).split(b"\n")
    assert lines[0] == b"i\tt\t1\t2\tplain\tc\t2026-02-03T04:05:06Z\t0\t{}"
    assert lines[1].split(b"\t") == [
        b"i",
        b"t",
        b"1",
        b"2",
        escaped_type,
        b"\\N",
        b"2026-02-03T04:05:06Z",
        escaped_payload,
        b"{}",
    ]
    assert lines[2:] == [b""]


async def test_copy_data_goes_in_messages_of_at_most_copy_message_bytes_in_order() -> None:
    data = bytes(range(256)) * (event_store_writer.COPY_MESSAGE_BYTES // 100)
    chunks = [chunk async for chunk in event_store_writer._once(data)]
    assert len(chunks) == -(-len(data) // event_store_writer.COPY_MESSAGE_BYTES) > 1
    assert all(len(chunk) <= event_store_writer.COPY_MESSAGE_BYTES for chunk in chunks)
    assert b"".join(chunks) == data
    assert [chunk async for chunk in event_store_writer._once(b"one\n")] == [b"one\n"]
