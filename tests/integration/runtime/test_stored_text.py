"""The event store's fast path stores what the model's path stores.

``envelope_codec`` keeps the wire's own text for ids, timestamps and payloads where
PostgreSQL reads it as the same value as the model's re-serialisation (docs/performance.md,
"Event store: CPU per event"). Here the real server reads both: the same jsonb (as text:
key order, number forms, strings) and the same instant for every generated envelope; and
``write_events`` stores values that COPY's text format must escape exactly as given.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope, stored_fields_of
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.stored_rows import decode_stored_rows
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import COPY_THRESHOLD, write_events
from omnibase_infra.nodes.postgres_adapter.v1_0_0.migrations import migrate
from omnibase_infra.workflow.records import SourceRecord, StoredEvent, StoredFields

TOPIC = "onex.evt.test.text.v1"
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
separators = st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : ")])


@st.composite
def payload_texts(draw: st.DrawFn) -> str:
    odd = [
        '{"a":1,"a":2}',
        '{"b":1, "a":{"d":[1,2], "c":null}}',
        "-0",
        "[-0, 0, 10, -10]",
        "1234567890123456",
        "123456789012345678901234567890",
        '"\u2028 \u00e9 \U0001f600"',
        '"\\u00e9"',
        "[ ]",
        "{ }",
        '"\\"quoted\\" \\\\ back"',
        "1e2",
        "1.50",
        "true",
        "null",
    ]
    if draw(st.booleans()):
        return draw(st.sampled_from(odd))
    item, ascii_only, (comma, colon) = draw(json_values), draw(st.booleans()), draw(separators)
    return json.dumps(item, separators=(comma, colon), ensure_ascii=ascii_only)


stamps = st.builds(
    lambda base, digits, offset: base + ("." + "123456"[:digits] if digits else "") + offset,
    st.sampled_from(["2026-11-30T15:58:45", "1999-12-31T23:59:59", "2026-02-28T00:00:00"]),
    st.integers(0, 6),
    st.sampled_from(["Z", "+00:00", "+05:30", "-03:00", "+15:59", "-15:59", "+14:00"]),
)


def _fields(value: bytes) -> StoredFields | PoisonRecordError:
    try:
        return stored_fields_of(decode_envelope(value))
    except PoisonRecordError as error:
        return error


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(payload_texts(), stamps), min_size=1, max_size=30))
async def test_the_fast_paths_text_is_read_as_the_models_values(
    db: asyncpg.Connection, envelopes: list[tuple[str, str]]
) -> None:
    values = [
        (
            f'{{"payload":{payload},"envelope_id":"{uuid.uuid4()}","envelope_timestamp":"{stamp}",'
            f'"correlation_id":"{uuid.uuid4()}"}}'
        ).encode()
        for payload, stamp in envelopes
    ]
    records = [SourceRecord(TOPIC, 0, offset, None, value, ()) for offset, value in enumerate(values)]
    rows, poisoned = decode_stored_rows(records)
    fast: dict[int, StoredEvent] = {row.offset: row for row in rows}
    pairs = []
    for offset, value in enumerate(values):
        want = _fields(value)
        assert (offset in fast) == isinstance(want, StoredFields), value
        if isinstance(want, StoredFields):
            got = fast[offset]
            assert (got.envelope_id, got.correlation_id) == (want.envelope_id, want.correlation_id)
            pairs.append((got, want))
    assert len(poisoned) == len(values) - len(rows)
    rows = await db.fetch(
        """
        SELECT a::jsonb::text AS fast_json, b::jsonb::text AS model_json,
               c::timestamptz = d::timestamptz AS same_instant
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(a, b, c, d)
        """,
        [g.payload_json for g, _ in pairs],
        [w.payload_json for _, w in pairs],
        [g.envelope_timestamp for g, _ in pairs],
        [w.envelope_timestamp for _, w in pairs],
    )
    for row, (got, _) in zip(rows, pairs, strict=True):
        assert row["fast_json"] == row["model_json"], got.payload_json
        assert row["same_instant"], got.envelope_timestamp


AWKWARD = [
    ("tab\there", '{"s":"a\\tb"}'),
    ("new\nline\rreturn", '{"s":"a\\nb"}'),
    ("\\N", '"\\\\N"'),
    ("back\\slash", '{"s":"\\\\"}'),
    ("\\.", '"\\\\."'),
    (None, '{"s":"\u00e9\u20ac\U0001f600"}'),
]


@pytest.mark.parametrize("count", [COPY_THRESHOLD - 1, 2 * COPY_THRESHOLD])
async def test_values_copy_would_misread_are_stored_as_given(
    db: asyncpg.Connection, pg_schema: str, count: int
) -> None:
    await migrate(db, pg_schema)
    rows = []
    for offset in range(count):
        event_type, payload = AWKWARD[offset % len(AWKWARD)]
        rows.append(
            StoredEvent(
                str(uuid.uuid4()),
                TOPIC,
                0,
                offset,
                event_type,
                None if offset % 2 else str(uuid.uuid4()),
                "2026-11-30T15:58:45.5+02:00",
                payload,
                '{"tags":{"k":"v\\\\t"}}',
                SourceRecord(TOPIC, 0, offset, None, b"raw", ()),
            )
        )

    result = await write_events(db, rows)

    assert (result.inserted, result.rejected) == (count, ())
    stored = await db.fetch(
        "SELECT envelope_id::text, event_type, correlation_id::text,"
        " envelope_timestamp = $1::text::timestamptz AS same,"
        ' payload = ($2::jsonb[])[("offset" % $3)::int + 1] AS same_payload, metadata::text'
        ' FROM onex_event_store ORDER BY "offset"',
        "2026-11-30T13:58:45.5Z",
        [payload for _, payload in AWKWARD],
        len(AWKWARD),
    )
    assert [(r["envelope_id"], r["event_type"], r["correlation_id"]) for r in stored] == [
        (row.envelope_id, row.event_type, row.correlation_id) for row in rows
    ]
    assert all(r["same"] and r["same_payload"] for r in stored)
    assert {r["metadata"] for r in stored} == {'{"tags": {"k": "v\\\\t"}}'}
