"""Envelope codec: a round trip keeps the envelope; a bad record is a PoisonRecordError naming its stage."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.runtime.envelope_codec import (
    STAGE_DECODE,
    STAGE_VALIDATE,
    decode_envelope,
    encode_envelope,
)


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
