"""kafka_wrapper's ``decode_stored_rows``: a chunk's rows are each record's ``decode_stored_fields``.

The checks run once per chunk; any record failing one sends the chunk, record by record,
through the per-record path. Every result must be the model's (``test_envelope_codec``).
"""

from __future__ import annotations

import uuid
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_stored_fields
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.stored_rows import decode_stored_rows
from omnibase_infra.workflow.records import SourceRecord, StoredEvent, StoredFields

from .test_envelope_codec import _outcome, comparable

TOPIC = "onex.evt.rows.v1"


def _records(values: list[bytes | None]) -> list[SourceRecord]:
    return [SourceRecord(TOPIC, offset % 2, offset, None, value, ()) for offset, value in enumerate(values)]


def _fields(row: StoredEvent) -> StoredFields:
    return StoredFields(*row[0:1], *row[4:9])


def _common_value(seq: int, payload: str | None = None) -> bytes:
    return (
        f'{{"payload":{payload or f'{{"seq":{seq}}}'},'
        f'"envelope_id":"{uuid.UUID(int=seq)}","envelope_timestamp":"2026-11-30T15:58:45.5Z",'
        f'"correlation_id":"{uuid.UUID(int=seq + 1)}","event_type":"e"}}'
    ).encode()


record_values = st.one_of(
    st.integers(0, 1000).map(_common_value),
    st.sampled_from(
        [
            None,
            b"",
            b"{",
            _common_value(7, '{"n": 1.5}'),
            _common_value(8, '"tab\\t"'),
            _common_value(9, "[" * 70 + "]" * 70),
            _common_value(13, "[" * 5000 + "]" * 5000),  # deeper than msgspec's recursion limit
            _common_value(10, '"\\u0000"'),  # an escaped NUL
            _common_value(11, '"\\\\u0000"'),  # the text "\\u0000", not a NUL
            _common_value(12, '{"a": "\\u0000", "n": 1.5}'),
            b'{"payload":1,"envelope_id":"0B8F5C52-6C43-4C3E-9B1C-3F0A1E2D4C5B"}',
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","event_type":"a\\u0000"}',
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","metadata":{"tags":{"k":"v"}}}',
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"2026-02-30T00:00:00Z"}',
            b'{"payload":"\xff","envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b"}',
            # offsets and years at the edges: minute 60 is the model's poison; a UTC instant
            # outside years 1-9999 must still decode (the model path's text keeps the offset)
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"2024-01-01T00:00:00+05:60"}',
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"9999-12-31T23:00:00-05:00"}',
            b'{"payload":1,"envelope_id":"0B8F5C52-6C43-4C3E-9B1C-3F0A1E2D4C5B","envelope_timestamp":"9999-12-31T23:00:00-05:00"}',
            b'{"payload":1,"envelope_id":"0B8F5C52-6C43-4C3E-9B1C-3F0A1E2D4C5B","envelope_timestamp":"0001-01-01T00:00:00+01:00"}',
            # the time of day out of range (the chunk's check), a day that does not exist
            # in that year and one that does (checked once per distinct date)
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"2024-01-01T24:00:00Z"}',
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"2024-01-01T23:60:00Z"}',
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"2024-01-01T23:59:60Z"}',
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"2023-02-29T12:00:00Z"}',
            b'{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"2024-02-29T23:59:59.999999Z"}',
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(record_values, max_size=12))
def test_a_chunk_decodes_each_record_as_the_model_does(values: list[bytes | None]) -> None:
    records = _records(values)
    rows, poisoned = decode_stored_rows(records)
    assert [row.source for row in rows] + [record for record, _ in poisoned] != [] or not values
    assert sorted(r.offset for r in [row.source for row in rows] + [rec for rec, _ in poisoned]) == list(
        range(len(values))
    )
    assert [row.offset for row in rows] == sorted(row.offset for row in rows)  # consumption order
    for record, error in poisoned:
        assert _outcome(record.value) == ("poison", (error.stage, error.poison_class, error.reason))
    for row in rows:
        value = row.source.value
        assert (row.topic, row.partition, row.offset) == (TOPIC, row.source.partition, row.source.offset)
        want = _outcome(value)
        assert want[0] == "ok", (value, want)
        expected = comparable(cast("StoredFields", want[1]))
        actual = comparable(_fields(row))
        if b"envelope_timestamp" not in (value or b""):  # the current time, on each decode
            del expected["envelope_timestamp"], actual["envelope_timestamp"]
        assert actual == expected, value


def test_a_chunk_of_common_records_keeps_their_text() -> None:
    values: list[bytes | None] = [_common_value(seq) for seq in range(300)]
    rows, poisoned = decode_stored_rows(_records(values))
    assert poisoned == []
    assert [row.payload_json for row in rows] == [f'{{"seq":{seq}}}' for seq in range(300)]
    assert [row.correlation_id for row in rows] == [str(uuid.UUID(int=seq + 1)) for seq in range(300)]
    assert [row.envelope_timestamp for row in rows] == ["2026-11-30T15:58:45.5Z"] * 300
    assert [_fields(row) for row in rows] == [decode_stored_fields(value) for value in values]
