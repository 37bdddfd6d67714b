"""Consumed records into event-store rows, a chunk at a time (kafka_wrapper's ``decode_events``).

``decode_stored_rows`` gives each record's ``StoredEvent`` (or its ``PoisonRecordError``)
exactly as ``envelope_codec.decode_stored_fields`` would, but runs the fast path's text
checks once per chunk instead of once per record: msgspec decodes each record, then one
pass per field over the chunk's values joined (the UUIDs' shape with ``bytes.translate``,
the timestamps with one regular expression and each distinct date once, the payloads
with ``bytes.find``) decides for all of them. When any record fails a check, every record of the chunk takes
``decode_stored_fields`` on its own, so acceptance, the stored values and every poison
classification stay the model's. Rows are built here directly (no ``StoredFields`` in
between), in C (``map`` over the zipped columns): this runs once per event-store record.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, cast

import msgspec

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import (
    _COMMON_ENVELOPE,
    _MAX_CONTAINERS,
    _NESTING_BYTES,
    _RFC3339,
    _CommonEnvelope,
    _default_metadata_json,
    _metadata_json,
    _payload_json,
    decode_stored_fields,
)
from omnibase_infra.workflow.records import StoredEvent

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from omnibase_infra.workflow.protocols import ProtocolRecordOrigin

Poisoned = list[tuple["ProtocolRecordOrigin", PoisonRecordError]]

# One timestamp as ``_RFC3339`` takes it, with the time of day's ranges too (hour 00-23,
# minute and second 00-59): what is left for ``datetime.fromisoformat`` to refuse is a date
# that does not exist, checked once per distinct date of the chunk.
_RFC3339_IN_RANGE = _RFC3339.pattern.replace(
    "T[0-9]{2}:[0-9]{2}:[0-9]{2}", "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
)
assert _RFC3339.pattern != _RFC3339_IN_RANGE, "the time of day's part of _RFC3339 changed"
# The timestamps of a chunk, one a line.
_RFC3339_LINES = re.compile(f"{_RFC3339_IN_RANGE}(?:\n{_RFC3339_IN_RANGE})*")
# Stands for an absent correlation id in the check (it is never stored).
_NO_UUID = "00000000-0000-0000-0000-000000000000"
# Lowercase hex digits become "x" and an "x" becomes "!": a canonical UUID has one shape.
_UUID_SHAPE_TABLE = bytes.maketrans(b"0123456789abcdefx", b"xxxxxxxxxxxxxxxx!")
_DIGITS_TABLE = bytes.maketrans(b"123456789", b"000000000")
# Column readers for building the rows in C (no Python bytecode per row).
_ID = attrgetter("envelope_id")
_CORRELATION = attrgetter("correlation_id")
_EVENT_TYPE = attrgetter("event_type")
_TOPIC = attrgetter("topic")
_PARTITION = attrgetter("partition")
_OFFSET = attrgetter("offset")


def decode_stored_rows(records: Sequence[ProtocolRecordOrigin]) -> tuple[list[StoredEvent], Poisoned]:
    """Each record's row, in order, and the poison records with their errors."""
    decode = _COMMON_ENVELOPE.decode
    common: list[_CommonEnvelope | None] = []
    for record in records:
        value = record.value
        try:
            common.append(None if value is None else decode(value))
        except (msgspec.DecodeError, RecursionError):  # deep nesting: the model's limits decide
            common.append(None)
    good = [envelope for envelope in common if envelope is not None]
    if len(good) == len(records):
        rows = _checked_rows(good, records)
        if rows is not None:
            return rows, []
    elif good:
        # The records msgspec refused take the full path; the others are checked together.
        kept = [record for record, envelope in zip(records, common, strict=True) if envelope is not None]
        rows = _checked_rows(good, kept)
        if rows is not None:
            refused = [record for record, envelope in zip(records, common, strict=True) if envelope is None]
            more, poisoned = _each_on_its_own(refused)
            # A row's position in the batch only matters per partition, and both lists
            # keep the consumption order: merge them back in it.
            order = {id(record): index for index, record in enumerate(records)}
            merged = sorted(rows + more, key=lambda row: order[id(row.source)])
            return merged, poisoned
    return _each_on_its_own(records)


def _each_on_its_own(records: Sequence[ProtocolRecordOrigin]) -> tuple[list[StoredEvent], Poisoned]:
    rows: list[StoredEvent] = []
    poisoned: Poisoned = []
    for record in records:
        try:
            fields = decode_stored_fields(record.value)
        except PoisonRecordError as error:
            poisoned.append((record, error))
            continue
        rows.append(StoredEvent.from_fields(record, fields))
    return rows, poisoned


def _checked_rows(
    batch: list[_CommonEnvelope], records: Sequence[ProtocolRecordOrigin]
) -> list[StoredEvent] | None:
    """The rows of every envelope when all pass the fast path's checks, else None."""
    count = len(batch)
    if not count:
        return []
    stamps = [e.envelope_timestamp for e in batch]
    if msgspec.UNSET in stamps:
        return None
    texts = cast("list[str]", stamps)
    correlations = [_NO_UUID if c is None else c for c in (e.correlation_id for e in batch)]
    ids = "\n".join([e.envelope_id for e in batch] + correlations)
    if (
        ids.encode("utf-8", "replace").translate(_UUID_SHAPE_TABLE) != _uuid_shape_lines(2 * count)
        or _RFC3339_LINES.fullmatch("\n".join(texts)) is None
        # An escaped NUL decodes to a NUL, which the model refuses (as PostgreSQL would).
        or "\x00" in "".join([k for k in (e.event_type for e in batch) if k is not None])
    ):
        return None
    # A raw NUL cannot be in a payload msgspec accepted, so it separates them.
    payloads = b"\x00".join([e.payload for e in batch])
    try:
        for day in {stamp[:10] for stamp in texts}:
            date.fromisoformat(day)  # the date exists (the time of day's ranges: _RFC3339_LINES)
        if _kept_as_is(payloads):
            kept: list[str | None] = list(payloads.decode("utf-8").split("\x00"))
        else:  # some payload is written again: each on its own
            kept = [_payload_json(bytes(e.payload)) for e in batch]
    except ValueError:  # UnicodeDecodeError, or a date that does not exist
        return None
    if None in kept:
        return None
    texts_kept = cast("list[str]", kept)
    if max(map(len, texts_kept)) >= _NESTING_BYTES and any(
        p.count("{") + p.count("[") > _MAX_CONTAINERS for p in texts_kept if len(p) >= _NESTING_BYTES
    ):
        return None
    metadata = [e.metadata for e in batch]
    stored_metadata: Iterable[str | None]
    if metadata.count(msgspec.UNSET) == count:
        stored_metadata = repeat(_default_metadata_json(), count)
    else:
        stored_metadata = [
            _default_metadata_json() if m is msgspec.UNSET else _metadata_json(bytes(m)) for m in metadata
        ]
        if None in stored_metadata:
            return None
    # Each row is built in C: tuple.__new__ (a NamedTuple's own __new__ is a Python
    # function) over the columns zipped.
    columns = zip(
        map(_ID, batch),
        map(_TOPIC, records),
        map(_PARTITION, records),
        map(_OFFSET, records),
        map(_EVENT_TYPE, batch),
        map(_CORRELATION, batch),
        texts,
        texts_kept,
        stored_metadata,
        records,
        strict=True,
    )
    return list(map(tuple.__new__, repeat(StoredEvent), columns))


@lru_cache(maxsize=64)
def _uuid_shape_lines(count: int) -> bytes:
    return b"\n".join([b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"] * count)


def _kept_as_is(payloads: bytes) -> bool:
    """``envelope_codec._PAYLOAD_REWRITTEN`` finds nothing in ``payloads`` (bytes methods, faster)."""
    if payloads.find(b"\\") >= 0 or payloads.find(b"\t") >= 0 or payloads.find(b"\n") >= 0:
        return False
    if payloads.find(b"\r") >= 0:
        return False
    digits = payloads.translate(_DIGITS_TABLE)
    return (
        digits.find(b"0.") < 0
        and digits.find(b"0e") < 0
        and digits.find(b"0E") < 0
        and digits.find(b"0" * 16) < 0
    )


__all__ = ["decode_stored_rows"]
