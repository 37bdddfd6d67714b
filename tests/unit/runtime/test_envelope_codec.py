"""Envelope codec: a round trip keeps the envelope; a bad record is a PoisonRecordError naming its stage."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omnibase_core.models.core.model_envelope_metadata import ModelEnvelopeMetadata
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import (
    _fast_stored_fields,
    decode_envelope,
    decode_stored_fields,
    stored_fields_of,
)
from omnibase_infra.workflow.dlq_stages import STAGE_DECODE, STAGE_VALIDATE
from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.records import StoredFields


def make_envelope(payload: JsonValue = None, **fields: object) -> ModelEventEnvelope[JsonValue]:
    body = {"sku": "A-1", "qty": 3, "tags": ["x", "y"], "nested": {"ok": True, "none": None}}
    return ModelEventEnvelope[JsonValue](payload=body if payload is None else payload, **fields)


def test_round_trip_keeps_every_field() -> None:
    parent = uuid.uuid4()
    envelope = make_envelope(
        correlation_id=uuid.uuid4(),
        parent_envelope_id=parent,
        event_type="onex.evt.inventory.reserved.v1",
        source_tool="orders",
        priority=7,
    )

    decoded = decode_envelope(encode_envelope(envelope))

    assert decoded == envelope
    assert decoded.envelope_id == envelope.envelope_id
    assert decoded.parent_envelope_id == parent
    assert decoded.payload == envelope.payload


def test_encoding_is_utf8_json_without_none_fields() -> None:
    envelope = make_envelope(payload={"name": "Zoë €"})

    raw = encode_envelope(envelope)
    document = json.loads(raw.decode("utf-8"))

    assert document["payload"] == {"name": "Zoë €"}
    assert "correlation_id" not in document
    assert "parent_envelope_id" not in document
    assert None not in document.values()


def test_a_literal_backslash_u0000_text_is_not_a_nul() -> None:
    # JSON "\\u0000" is a backslash followed by "u0000": valid text, not a NUL character.
    envelope = make_envelope(payload={"path": "C:\\u0000dir"})

    decoded = decode_envelope(encode_envelope(envelope))

    assert decoded.payload == {"path": "C:\\u0000dir"}


def _envelope_text(payload_json: str) -> bytes:
    return f'{{"payload": {payload_json}, "envelope_id": "{uuid.uuid4()}"}}'.encode()


@pytest.mark.parametrize(
    ("value", "stage", "error_class"),
    [
        pytest.param(b"\xff\xfe{}", STAGE_DECODE, "UnicodeDecodeError", id="invalid-utf8"),
        pytest.param(b'{"payload": "caf\xe9"}', STAGE_DECODE, "UnicodeDecodeError", id="latin1-in-json"),
        pytest.param(b"not json at all", STAGE_DECODE, "JSONDecodeError", id="not-json"),
        pytest.param(b'{"payload": 1', STAGE_DECODE, "JSONDecodeError", id="truncated-json"),
        pytest.param(b"", STAGE_DECODE, "JSONDecodeError", id="empty-bytes"),
        pytest.param(None, STAGE_DECODE, "EmptyRecord", id="tombstone"),
        pytest.param(_envelope_text('"a\x00b"'), STAGE_DECODE, "NulCharacter", id="raw-nul"),
        pytest.param(_envelope_text('"a\\u0000b"'), STAGE_DECODE, "NulCharacter", id="escaped-nul"),
        pytest.param(
            _envelope_text('{"k\\u0000": 1}'), STAGE_DECODE, "NulCharacter", id="escaped-nul-in-key"
        ),
        pytest.param(
            _envelope_text('"x\\\\\\u0000"'), STAGE_DECODE, "NulCharacter", id="escaped-nul-after-backslash"
        ),
        pytest.param(
            b'{"payload": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            STAGE_DECODE,
            "JSONDecodeError",
            id="deep-nesting",
        ),
        pytest.param(b'{"sku": "A-1"}', STAGE_VALIDATE, "ValidationError", id="object-not-envelope"),
        pytest.param(b"[1, 2, 3]", STAGE_VALIDATE, "ValidationError", id="array"),
        pytest.param(b"null", STAGE_VALIDATE, "ValidationError", id="json-null"),
        pytest.param(b'"text"', STAGE_VALIDATE, "ValidationError", id="json-string"),
        pytest.param(
            _envelope_text("{}").replace(b'"envelope_id": "', b'"envelope_id": "not-a-uuid-'),
            STAGE_VALIDATE,
            "ValidationError",
            id="bad-uuid",
        ),
        pytest.param(
            b'{"payload": {}, "unknown_field": 1}', STAGE_VALIDATE, "ValidationError", id="unknown-field"
        ),
    ],
)
def test_bad_records_are_poison_with_their_stage(value: bytes | None, stage: str, error_class: str) -> None:
    with pytest.raises(PoisonRecordError) as caught:
        decode_envelope(value)

    assert caught.value.stage == stage
    assert caught.value.poison_class == error_class
    assert caught.value.goes_to_dead_letter
    assert not caught.value.counts_against_breaker


def test_moderate_nesting_is_accepted() -> None:
    depth = 50
    decoded = decode_envelope(_envelope_text("[" * depth + "]" * depth))

    assert isinstance(decoded.payload, list)


def test_validation_message_names_the_field_and_is_bounded() -> None:
    fields = ", ".join(f'"extra_{i}": {i}' for i in range(200))
    value = f'{{"payload": {{}}, "envelope_id": "nope", {fields}}}'.encode()

    with pytest.raises(PoisonRecordError) as caught:
        decode_envelope(value)

    assert "envelope_id" in caught.value.reason
    assert "more" in caught.value.reason
    assert len(caught.value.reason) <= 500


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise_anything_but_poison(value: bytes) -> None:
    try:
        decode_envelope(value)
    except PoisonRecordError as error:
        assert error.stage in (STAGE_DECODE, STAGE_VALIDATE)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_random_json_is_an_envelope_or_poison(document: object) -> None:
    raw = json.dumps(document).encode("utf-8")
    try:
        envelope = decode_envelope(raw)
    except PoisonRecordError as error:
        assert error.stage in (STAGE_DECODE, STAGE_VALIDATE)
    else:
        assert decode_envelope(encode_envelope(envelope)) == envelope


@settings(max_examples=60, deadline=None)
@given(json_values)
def test_any_json_payload_round_trips(payload: JsonValue) -> None:
    text = json.dumps(payload)
    if "\\u0000" in text:  # NUL is refused by design (PostgreSQL cannot store it)
        return
    envelope = make_envelope(payload={"value": payload})

    assert decode_envelope(encode_envelope(envelope)).payload == {"value": payload}


# ---- decode_stored_fields: the event store's fast path must agree with the model ---------


def _outcome(value: bytes | None) -> tuple[str, object]:
    """What the full path says about ``value``: its stored fields, or its poison error."""
    try:
        return "ok", stored_fields_of(decode_envelope(value))
    except PoisonRecordError as error:
        return "poison", (error.stage, error.poison_class, error.reason)


def _fast_outcome(value: bytes | None) -> tuple[str, object]:
    try:
        return "ok", decode_stored_fields(value)
    except PoisonRecordError as error:
        return "poison", (error.stage, error.poison_class, error.reason)


def _assert_same(value: bytes | None, document: object = None) -> None:
    want, got = _outcome(value), _fast_outcome(value)
    assert want[0] == got[0], (value, want, got)
    if want[0] == "poison":
        assert want == got
        return
    expected, actual = want[1], got[1]
    assert isinstance(expected, StoredFields) and isinstance(actual, StoredFields)
    # Fields the sender left out get fresh defaults (a new id, the current time) on each decode.
    defaulted = set()
    if isinstance(document, dict):
        defaulted = {"envelope_id", "envelope_timestamp"} - set(document)
    want_values, got_values = comparable(expected), comparable(actual)
    for name in StoredFields._fields:
        if name not in defaulted:
            assert got_values[name] == want_values[name], (name, value)


def comparable(fields: StoredFields) -> dict[str, object]:
    """What must agree between the fast path and the model's: the same UUIDs as text, the
    same instant, the same JSON value as the model reads it (the fast path keeps the wire's
    text where PostgreSQL's jsonb of it is the same: tests/integration/runtime/test_stored_text.py
    compares the stored jsonb of both)."""
    return {
        "envelope_id": fields.envelope_id,
        "event_type": fields.event_type,
        "correlation_id": fields.correlation_id,
        "envelope_timestamp": datetime.fromisoformat(fields.envelope_timestamp),
        "payload_json": pydantic_core.to_json(pydantic_core.from_json(fields.payload_json)),
        "metadata_json": fields.metadata_json,
    }


def test_common_envelopes_take_the_fast_path_and_match_the_model() -> None:
    metadata = ModelEnvelopeMetadata(
        headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}, tags={"team": "orders"}
    )
    envelopes = [
        make_envelope(),
        make_envelope(payload={"name": "Zoë €", "n": 1.5, "big": 2**70}, correlation_id=uuid.uuid4()),
        make_envelope(event_type="onex.evt.x.v1", priority=9, retry_count=2, metadata=metadata),
        make_envelope(payload=[1, "two", None], envelope_timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ]
    for envelope in envelopes:
        raw = encode_envelope(envelope)
        assert _fast_stored_fields(raw) is not None
        assert comparable(decode_stored_fields(raw)) == comparable(stored_fields_of(envelope))
    compact = (
        b'{"payload":{"seq":1},"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b",'
        b'"envelope_timestamp":"2026-11-30T15:58:45.5+02:00","event_type":"e"}'
    )
    assert _fast_stored_fields(compact) is not None
    _assert_same(compact)


odd_values = st.sampled_from(
    [
        None,
        True,
        0,
        5,
        11,
        -1,
        5.0,
        "5",
        "",
        " ",
        "0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b",
        "0B8F5C52-6C43-4C3E-9B1C-3F0A1E2D4C5B",
        "0b8f5c526c434c3e9b1c3f0a1e2d4c5b",
        "{0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b}",
        "0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5",
        "2026-11-30T15:58:45Z",
        "2026-11-30T15:58:45.123456789Z",
        "2026-11-30T15:58:45",
        "2026-11-30 15:58:45Z",
        "2026-02-30T15:58:45Z",
        "2026-11-30T24:00:00Z",
        "2026-11-30T15:58:45+25:00",
        "2026-11-30",
        "1700000000",
        {},
        [],
        {"major": 1, "minor": 0, "patch": 0},
        {"major": 1, "minor": 0, "patch": -1},
        {"major": 1, "minor": 0},
        {"major": "1", "minor": 0, "patch": 0},
        {"headers": {"a": "b"}},
        {"headers": {"a": 1}},
        {"tags": {"k": "v"}, "trace_id": "a" * 32},
        {"unknown": 1},
    ]
)
envelope_keys = st.sampled_from(
    [
        "payload",
        "envelope_id",
        "envelope_timestamp",
        "correlation_id",
        "event_type",
        "metadata",
        "priority",
        "retry_count",
        "onex_version",
        "envelope_version",
        "parent_envelope_id",
        "tenant_id",
        "unknown_field",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(envelope_keys, odd_values | json_values, max_size=6), st.booleans())
def test_stored_fields_agree_with_the_model_on_any_document(document: dict[str, object], base: bool) -> None:
    if base:
        document = {
            "payload": {"a": 1},
            "envelope_id": "0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b",
            "envelope_timestamp": "2026-11-30T15:58:45.5Z",
            **document,
        }
    _assert_same(json.dumps(document).encode("utf-8"), document)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_stored_fields_agree_with_the_model_on_any_bytes(value: bytes) -> None:
    _assert_same(value)


DEEP_TAIL = (
    b',"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"2026-11-30T15:58:45Z"}'
)


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"\xff",
        b'{"payload": "a\\u0000"}',
        b'{"payload": "\x00"}',
        b"{",
        b"[" * 100 + b"]" * 100,
        b'{"payload":' + b"[" * 5000 + b"]" * 5000 + DEEP_TAIL,  # deeper than msgspec's recursion limit
        b'{"payload":' + b"[" * 100 + b"]" * 100 + DEEP_TAIL,
    ],
)
def test_stored_fields_poison_is_the_models_poison(value: bytes | None) -> None:
    _assert_same(value)


def test_the_fast_path_keeps_the_wire_text_the_store_can_take_as_it_is() -> None:
    value = (
        b'{"payload":{"seq":1, "data":"bench"},"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b",'
        b'"envelope_timestamp":"2026-11-30T15:58:45.5+02:00","correlation_id":null}'
    )
    fields = decode_stored_fields(value)
    assert fields == (
        "0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b",
        None,
        None,
        "2026-11-30T15:58:45.5+02:00",
        '{"seq":1, "data":"bench"}',
        '{"headers":{},"tags":{}}',
    )


@pytest.mark.parametrize(
    ("payload", "stored"),
    [
        (b'{"n": 1.10}', '{"n":1.1}'),  # a float prints as the model prints it
        (b'{"n": 1E2}', '{"n":100.0}'),
        (b'{"s": "a\\u00e9"}', '{"s":"a\u00e9"}'),  # escapes are the model's to decode
        (b'{"s":\n"x"}', '{"s":"x"}'),  # whitespace COPY would have to escape
        (b'{"n": 12345678901234567890}', '{"n":12345678901234567890}'),
    ],
)
def test_other_payloads_are_written_again_as_the_model_does(payload: bytes, stored: str) -> None:
    value = b'{"payload":' + payload + b',"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b"}'
    fields = decode_stored_fields(value)
    assert fields.payload_json == stored
    assert fields.payload_json == stored_fields_of(decode_envelope(value)).payload_json


@pytest.mark.parametrize(
    ("stamp", "stored"),
    [
        ("2026-11-30T15:58:45+15:59", "2026-11-30T15:58:45+15:59"),  # kept: PostgreSQL takes it
        ("2026-11-30T15:58:45+16:00", "2026-11-29T23:58:45+00:00"),  # the model's, in UTC
        ("2026-11-30T15:58:45.123456789Z", "2026-11-30T15:58:45.123456+00:00"),  # truncated
    ],
)
def test_timestamps_outside_the_kept_form_are_stored_in_utc(stamp: str, stored: str) -> None:
    value = (
        f'{{"payload":1,"envelope_id":"0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b","envelope_timestamp":"{stamp}"}}'
    ).encode()
    assert decode_stored_fields(value).envelope_timestamp == stored


def test_uppercase_uuids_are_stored_in_canonical_form() -> None:
    value = b'{"payload":1,"envelope_id":"0B8F5C52-6C43-4C3E-9B1C-3F0A1E2D4C5B"}'
    assert decode_stored_fields(value).envelope_id == "0b8f5c52-6c43-4c3e-9b1c-3f0a1e2d4c5b"
