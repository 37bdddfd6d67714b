"""Decoding and encoding of ONEX envelopes on the wire (DESIGN.md §3).

A record value is ``ModelEventEnvelope`` JSON in UTF-8. Decoding is split in
two stages so that the DLQ names where a record failed: ``decode`` (bytes are
not UTF-8 JSON) and ``validate`` (JSON that is not an envelope). Both raise
``PoisonRecordError``: retrying cannot fix them. Envelopes are written with
``exclude_none`` so that older and newer omnibase-core versions read each other.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import JsonValue, ValidationError

from omnibase_infra.errors import PoisonRecordError

if TYPE_CHECKING:
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope

    Envelope = ModelEventEnvelope[JsonValue]

STAGE_DECODE = "decode"
STAGE_VALIDATE = "validate"
MAX_ERROR_TEXT = 500
# The JSON escape of NUL: ``\u0000`` preceded by an even number of backslashes
# (``\\u0000`` is an escaped backslash followed by the text "u0000", not a NUL).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _envelope_type() -> type[Envelope]:
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope

    return ModelEventEnvelope[JsonValue]


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        location = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{location}: {err['msg']}")
    more = len(exc.errors()) - 5
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)[:MAX_ERROR_TEXT]


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
    if "\x00" in text or _ESCAPED_NUL.search(text):
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


def encode_envelope(envelope: Envelope) -> bytes:
    """Serialise an envelope for the wire (UTF-8 JSON without ``None`` fields)."""
    return envelope.model_dump_json(exclude_none=True).encode("utf-8")


__all__ = ["STAGE_DECODE", "STAGE_VALIDATE", "decode_envelope", "encode_envelope"]
