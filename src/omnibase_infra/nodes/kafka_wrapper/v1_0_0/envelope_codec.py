"""Decoding and encoding of ONEX envelopes on the wire.

A record value is ``ModelEventEnvelope`` JSON in UTF-8. Decoding is split in
two stages so that the DLQ names where a record failed: ``decode`` (bytes are
not UTF-8 JSON) and ``validate`` (JSON that is not an envelope). Both raise
``PoisonRecordError``: retrying cannot fix them. Envelopes are written with
``exclude_none`` so that older and newer omnibase-core versions read each other.

``decode_stored_fields`` is the event store's hot path: it returns only what the
store keeps of an envelope. Envelopes in the common shape (the fields below, with
canonical UUIDs, RFC 3339 timestamps and plain JSON) are checked field by field
without building the pydantic model; anything else goes through
``decode_envelope``, so acceptance and every poison classification (stage, class,
message) are exactly those of ``decode_envelope``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

import msgspec
import pydantic_core
from pydantic import JsonValue, ValidationError

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.workflow.dlq_stages import STAGE_DECODE, STAGE_VALIDATE
from omnibase_infra.workflow.records import StoredFields, timestamp_text, uuid_text

if TYPE_CHECKING:
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope

    Envelope = ModelEventEnvelope[JsonValue]

MAX_ERROR_TEXT = 500
# The JSON escape of NUL: ``\u0000`` preceded by an even number of backslashes
# (``\\u0000`` is an escaped backslash followed by the text "u0000", not a NUL).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

_ENVELOPE_TYPE: list[type[Envelope]] = []


def _envelope_type() -> type[Envelope]:
    # Imported on first use (omnibase-core is heavy) and kept: subscripting the generic
    # model again on every record costs more than validating a small envelope's fields.
    if not _ENVELOPE_TYPE:
        from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope

        _ENVELOPE_TYPE.append(ModelEventEnvelope[JsonValue])
    return _ENVELOPE_TYPE[0]


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        location = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{location}: {err['msg']}")
    more = len(exc.errors()) - 5
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)[:MAX_ERROR_TEXT]


def _has_nul(text: str) -> bool:
    # The substring tests are cheap; the regex only runs when an escape might be a NUL.
    return "\x00" in text or ("\\u0000" in text and _ESCAPED_NUL.search(text) is not None)


def decode_envelope(value: bytes | None) -> Envelope:
    """Parse one record value into an envelope; raise ``PoisonRecordError`` naming the stage."""
    if value is None:
        raise PoisonRecordError(STAGE_DECODE, "EmptyRecord", "record has no value (tombstone)")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoisonRecordError(
            STAGE_DECODE, "UnicodeDecodeError", f"invalid UTF-8 at byte {exc.start}"
        ) from exc
    if _has_nul(text):
        # PostgreSQL rejects NUL in text and jsonb: refuse it here, before it can fail a batch.
        raise PoisonRecordError(STAGE_DECODE, "NulCharacter", "record contains a NUL character")
    try:
        return _envelope_type().model_validate_json(text)
    except ValidationError as exc:
        stage = STAGE_DECODE if _is_json_syntax_error(exc) else STAGE_VALIDATE
        kind = "JSONDecodeError" if stage == STAGE_DECODE else "ValidationError"
        raise PoisonRecordError(stage, kind, _summarise(exc)) from exc
    except (RecursionError, ValueError) as exc:
        raise PoisonRecordError(STAGE_DECODE, type(exc).__name__, str(exc)[:MAX_ERROR_TEXT]) from exc


def _is_json_syntax_error(exc: ValidationError) -> bool:
    return any(err["type"] == "json_invalid" for err in exc.errors())


def stored_fields_of(envelope: Envelope) -> StoredFields:
    """The stored fields of a validated envelope."""
    metadata = envelope.metadata.model_dump(mode="json", exclude_none=True)
    correlation = envelope.correlation_id
    return StoredFields(
        uuid_text(envelope.envelope_id),
        envelope.event_type,
        None if correlation is None else uuid_text(correlation),
        timestamp_text(envelope.envelope_timestamp),
        pydantic_core.to_json(envelope.payload).decode("utf-8"),
        pydantic_core.to_json(metadata).decode("utf-8"),
    )


def decode_stored_fields(value: bytes | None) -> StoredFields:
    """``stored_fields_of(decode_envelope(value))``, without building the model when it need not.

    Same acceptance, same result and same ``PoisonRecordError`` as that expression.
    """
    if value is not None:
        fields = _fast_stored_fields(value)
        if fields is not None:
            return fields
    return stored_fields_of(decode_envelope(value))


# ---- the fast path ---------------------------------------------------------------------
# It accepts a record only when it is a JSON object of these keys and every value passes a
# check that is at least as strict as the model's own (msgspec decodes and checks the shape
# in one pass, in C); on any doubt it returns None and the caller takes the full path. It
# never raises. It keeps the wire's text wherever that text already is what the store
# needs (``StoredFields``), so that no UUID or datetime object is built per record:
# - UUIDs in canonical form (lowercase, hyphenated) are kept; other forms take the full path;
# - an RFC 3339 timestamp is kept when ``datetime.fromisoformat`` accepts it (so the date
#   and time exist) and its offset is one PostgreSQL takes (up to 15:59); the model
#   truncates a seventh fractional digit where other parsers round, so six at most;
# - the payload's JSON text is kept when PostgreSQL's jsonb of it is the jsonb of the
#   model's re-serialisation: no backslash (no escapes), no tab/newline/CR, no number with a
#   fraction or exponent (the model's float may print differently) and no run of 16 digits
#   (a long integer); whitespace, key order and duplicate keys (the last one wins in both)
#   are jsonb's to normalise. Other payloads are parsed and serialised again as the model
#   does. ``tests/integration/runtime/test_stored_json.py`` compares the jsonb of both.
# Deeply nested documents take the full path (its recursion limits decide).
_MAX_CONTAINERS = 64
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-5]):[0-5][0-9])"
)
_PAYLOAD_REWRITTEN = re.compile(rb"[\\\t\n\r]|[0-9][.eE]|[0-9]{16}")
# Fewer containers than this many bytes cannot nest deeper than _MAX_CONTAINERS.
_NESTING_BYTES = 2 * _MAX_CONTAINERS
_SemVerPart = Annotated[int, msgspec.Meta(ge=0, lt=2**31)]


class _SemVer(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    major: _SemVerPart
    minor: _SemVerPart
    patch: _SemVerPart


class _CommonEnvelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The envelope shapes the fast path takes; payload and metadata are kept as raw JSON,
    ids and the timestamp as text (checked by ``_fast_stored_fields``)."""

    payload: msgspec.Raw
    envelope_id: str
    envelope_timestamp: str | msgspec.UnsetType = msgspec.UNSET
    correlation_id: str | None = None
    event_type: str | None = None
    metadata: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    priority: Annotated[int, msgspec.Meta(ge=1, le=10)] = 5
    retry_count: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0
    onex_version: _SemVer | msgspec.UnsetType = msgspec.UNSET
    envelope_version: _SemVer | msgspec.UnsetType = msgspec.UNSET


_COMMON_ENVELOPE = msgspec.json.Decoder(_CommonEnvelope)


def _timestamp(value: str) -> str | None:
    """``value`` when the fast path may store it as it is (see above), else None."""
    if _RFC3339.fullmatch(value):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return None
        return value
    return None


@lru_cache(maxsize=1)
def _default_metadata_json() -> str:
    from omnibase_core.models.core.model_envelope_metadata import ModelEnvelopeMetadata

    return pydantic_core.to_json(ModelEnvelopeMetadata().model_dump(mode="json", exclude_none=True)).decode()


@lru_cache(maxsize=256)
def _metadata_json(raw: bytes) -> str | None:
    """The stored JSON of one metadata object (given as JSON text), None when it is not valid
    (or holds an escape that may be a NUL: the full path decides)."""
    from omnibase_core.models.core.model_envelope_metadata import ModelEnvelopeMetadata

    if b"\\u0000" in raw:
        return None
    try:
        metadata = ModelEnvelopeMetadata.model_validate_json(raw)
    except (ValidationError, ValueError, RecursionError):
        return None
    return pydantic_core.to_json(metadata.model_dump(mode="json", exclude_none=True)).decode("utf-8")


def _payload_json(raw: bytes) -> str | None:
    """The payload's stored JSON text (see above), None when the full path must decide."""
    if len(raw) >= _NESTING_BYTES and raw.count(b"{") + raw.count(b"[") > _MAX_CONTAINERS:
        return None
    try:
        if _PAYLOAD_REWRITTEN.search(raw) is None:
            # msgspec checked the JSON's syntax; the model also requires valid UTF-8.
            return raw.decode("utf-8")
        if raw.find(b"\\u0000") >= 0:  # maybe an escaped NUL: the full path decides
            return None
        # Parsed and serialised again as the model does (same number and string forms).
        return pydantic_core.to_json(pydantic_core.from_json(raw, allow_inf_nan=False)).decode("utf-8")
    except ValueError:  # UnicodeDecodeError, or JSON the model refuses
        return None


def _fast_stored_fields(value: bytes) -> StoredFields | None:
    try:
        envelope = _COMMON_ENVELOPE.decode(value)
    except (msgspec.DecodeError, RecursionError):  # deep nesting: the model's limits decide
        return None
    envelope_id = envelope.envelope_id
    correlation = envelope.correlation_id
    event_type = envelope.event_type
    if (
        _UUID_TEXT.fullmatch(envelope_id) is None
        or (correlation is not None and _UUID_TEXT.fullmatch(correlation) is None)
        # An escaped NUL decodes to a NUL, which the model refuses (as PostgreSQL would).
        or (event_type is not None and "\x00" in event_type)
    ):
        return None
    stamp = envelope.envelope_timestamp
    if stamp is msgspec.UNSET:
        timestamp: str | None = timestamp_text(datetime.now(UTC))
    else:
        timestamp = _timestamp(stamp)
        if timestamp is None:
            return None
    payload_json = _payload_json(bytes(envelope.payload))
    if payload_json is None:
        return None
    metadata = envelope.metadata
    metadata_json = _default_metadata_json() if metadata is msgspec.UNSET else _metadata_json(bytes(metadata))
    if metadata_json is None:
        return None
    # tuple.__new__ directly: a NamedTuple's own __new__ is a Python function, and this
    # runs once per event-store record.
    return tuple.__new__(
        StoredFields, (envelope_id, event_type, correlation, timestamp, payload_json, metadata_json)
    )


__all__ = [
    "STAGE_DECODE",
    "STAGE_VALIDATE",
    "decode_envelope",
    "decode_stored_fields",
    "stored_fields_of",
]
