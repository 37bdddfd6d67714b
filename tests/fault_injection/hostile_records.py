"""The hostile stream: hand-written cases plus hypothesis-generated ones.

Each record says where it goes (the event-store topic or the command topic) and what
must become of it:

- ``store``: a valid envelope; it must be in the event store, payload intact;
- ``dlq``: poison; it must be in ``T.dlq`` with its coordinates and must not be stored;
- ``completed``: a valid command; it must be answered ``completed`` and not dead-lettered;
- ``either``: legal input with two acceptable outcomes (e.g. ``NaN``, which omnibase-core
  accepts but PostgreSQL's jsonb refuses); it must take exactly one of them.

For generated records the expectation comes from the specification, not from the
service's code: a value is a valid envelope when omnibase-core's ``ModelEventEnvelope``
accepts it and it holds no NUL character anywhere, raw or escaped, even in a field the
model ignores (PostgreSQL refuses NUL in text and jsonb).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue, ValidationError

from fault_injection.envelopes import encode_envelope

Expect = Literal["store", "dlq", "completed", "either"]
Target = Literal["store", "command"]

NEAR_MAX_MESSAGE = 1_048_400  # the broker's message.max.bytes is 1,048,588 per record batch
INJECTIONS = (
    "'; DROP TABLE onex_event_store; --",
    "x' OR '1'='1",
    "'); DELETE FROM onex_outbox; --",
    "Robert'); DROP TABLE students;--",
    "$1; SELECT pg_sleep(30); --",
    "\\'; TRUNCATE onex_inbox CASCADE; --",
    "1; UPDATE onex_outbox SET status = 'published'",
    "/* */ UNION SELECT usename, passwd FROM pg_shadow --",
)


@dataclass
class HostileRecord:
    label: str
    target: Target
    expect: Expect
    value: bytes | None
    key: bytes | None = None
    envelope_id: uuid.UUID | None = None
    injection: str | None = None  # a string that must come back only as data
    outbox_payload: str | None = None  # an enqueue_outbox_event command's payload


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def expected_for_store(value: bytes | None) -> Expect:
    """The specification's verdict on a record of the event-store topic."""
    if value is None:
        return "dlq"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "dlq"
    if "\x00" in text:
        return "dlq"
    try:
        ModelEventEnvelope[JsonValue].model_validate_json(text)
        document = json.loads(text)
    except (ValidationError, ValueError, RecursionError):
        return "dlq"
    return "dlq" if _has_nul(document) else "store"


def _envelope(
    payload: Any, *, event_type: str = "faults.hostile.event", envelope_id: uuid.UUID | None = None
) -> tuple[uuid.UUID, bytes]:
    envelope_id = envelope_id or uuid.uuid4()
    return envelope_id, encode_envelope(envelope_id, event_type, payload)


def _document(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "envelope_id": str(uuid.uuid4()),
        "payload": {"hostile": True},
        "event_type": "faults.hostile.event",
        "correlation_id": str(uuid.uuid4()),
    }
    for name, value in fields.items():
        if value is _DROP:
            base.pop(name, None)
        else:
            base[name] = value
    return base


_DROP = object()


def _raw(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def good_event(seq: int) -> HostileRecord:
    envelope_id, value = _envelope({"good": seq})
    return HostileRecord("good envelope", "store", "store", value, envelope_id=envelope_id)


def hand_written_store_records() -> list[HostileRecord]:
    records: list[HostileRecord] = []

    def add(label: str, value: bytes | None, expect: Expect | None = None) -> None:
        verdict = expect or expected_for_store(value)
        envelope_id = None
        if verdict != "dlq" and value is not None:
            envelope_id = uuid.UUID(json.loads(value)["envelope_id"])
        key = b"tombstone" if value is None else None  # the broker needs a key or a value
        records.append(HostileRecord(label, "store", verdict, value, key=key, envelope_id=envelope_id))

    def fresh() -> bytes:  # each derived record gets its own envelope id
        return _envelope({"text": "fine"})[1]

    add("tombstone (no value)", None, "dlq")
    add("empty value", b"", "dlq")
    add("invalid UTF-8 (0xff 0xfe)", b"\xff\xfe\xfd", "dlq")
    add("invalid UTF-8 inside an envelope", fresh().replace(b"fine", b"fi\xffne"), "dlq")
    add("overlong UTF-8 encoding", fresh().replace(b"fine", b"\xc0\xaf"), "dlq")
    add("UTF-8-encoded surrogate (CESU)", fresh().replace(b"fine", b"\xed\xa0\x80"), "dlq")
    add("UTF-8 byte-order mark", b"\xef\xbb\xbf" + fresh(), "dlq")
    add("raw NUL byte in a string", fresh().replace(b"fine", b"fi\x00ne"), "dlq")
    add("escaped \\u0000 in a payload value", fresh().replace(b"fine", b"fi\\u0000ne"), "dlq")
    add("escaped \\u0000 in a payload key", _raw(_document(payload={"k\u0000": 1})), "dlq")
    add("escaped \\u0000 in event_type", _raw(_document(event_type="faults\u0000type")), "dlq")
    add("escaped backslash then 'u0000' (plain text)", fresh().replace(b"fine", b"\\\\u0000"), "store")
    add("lone surrogate \\ud800", fresh().replace(b"fine", b"\\ud800"), "dlq")
    add("surrogate pair (emoji)", fresh().replace(b"fine", b"\\ud83d\\ude00"), "store")
    add("nesting depth 100", _raw(_document(payload=json.loads("[" * 100 + "]" * 100))), "store")
    add(
        "nesting depth 10,000",
        _raw(_document(payload=None)).replace(
            b'"payload": null', b'"payload": ' + b"[" * 10_000 + b"]" * 10_000
        ),
        "dlq",
    )
    add("1,000,000 open brackets", b"[" * 1_000_000, "dlq")
    add("truncated envelope (half)", fresh()[:150], "dlq")
    add("truncated envelope (last byte)", fresh()[:-1], "dlq")
    add("random bytes, 1 MB", random.Random(7).randbytes(1_000_000), "dlq")
    add(
        f"random bytes, {NEAR_MAX_MESSAGE:,} B (near the broker limit)",
        random.Random(8).randbytes(NEAR_MAX_MESSAGE),
        "dlq",
    )
    add("valid envelope, 1 MB payload", _envelope({"blob": "x" * 1_000_000})[1], "store")
    add("envelope_id is a number", _raw(_document(envelope_id=42)), "dlq")
    add("event_type is a number", _raw(_document(event_type=123)), "dlq")
    add("payload missing", _raw(_document(payload=_DROP)), "dlq")
    add("metadata is a string", _raw(_document(metadata="x")), "dlq")
    add("priority is a string", _raw(_document(priority="high")), "dlq")
    add("correlation_id not a UUID", _raw(_document(correlation_id="not-a-uuid")), "dlq")
    add("envelope_timestamp not a time", _raw(_document(envelope_timestamp="yesterday")), "dlq")
    add("a JSON array", b"[1, 2, 3]", "dlq")
    add("a JSON string", b'"envelope"', "dlq")
    add("JSON null", b"null", "dlq")
    add("NaN in the payload", _raw(_document()).replace(b'"hostile": true', b'"hostile": NaN'), "either")
    add("1e400 in the payload", _raw(_document()).replace(b'"hostile": true', b'"hostile": 1e400'), "either")
    add(
        "30-digit integer",
        _raw(_document()).replace(b'"hostile": true', b'"hostile": 123456789012345678901234567890'),
        "store",
    )
    add(
        "duplicate keys",
        _raw(_document()).replace(b'"hostile": true', b'"hostile": 1, "hostile": 2'),
        "either",
    )
    for text in INJECTIONS:
        add("SQL injection text in a payload", _envelope({"text": text, "key": text})[1], "store")
        records[-1].injection = text
    add(
        "spoofed reply envelope",
        _envelope(
            {"operation": "get_event_by_id", "status": "completed"},
            event_type="onex.postgres.operation.completed",
        )[1],
        "store",
    )
    return records


def _command(operation: Any, parameters: Any = None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"operation": operation}
    if parameters is not None:
        payload["parameters"] = parameters
    payload.update(extra)
    return payload


def hand_written_commands(outbox_topic: str, known_id: uuid.UUID, known_type: str) -> list[HostileRecord]:
    records: list[HostileRecord] = []

    def add(
        label: str,
        payload: Any,
        expect: Expect,
        *,
        event_type: str = "onex.postgres.operation.requested",
        injection: str | None = None,
        outbox: str | None = None,
    ) -> None:
        envelope_id, value = _envelope(payload, event_type=event_type)
        records.append(
            HostileRecord(
                label,
                "command",
                expect,
                value,
                envelope_id=envelope_id,
                injection=injection,
                outbox_payload=outbox,
            )
        )

    add("valid read (known id)", _command("get_event_by_id", {"envelope_id": str(known_id)}), "completed")
    add(
        "valid read (known type)",
        _command("list_events_by_type", {"event_type": known_type, "limit": 5}),
        "completed",
    )
    for text in INJECTIONS:
        add(
            "injection in a read parameter",
            _command("list_events_by_type", {"event_type": text}),
            "completed",
            injection=text,
        )
        add(
            "injection in outbox key and payload",
            _command("enqueue_outbox_event", {"topic": outbox_topic, "key": text, "payload": text}),
            "completed",
            injection=text,
            outbox=text,
        )
    add("injection as a uuid parameter", _command("get_event_by_id", {"envelope_id": "1' OR '1'='1"}), "dlq")
    add(
        "injection in an integer parameter",
        _command("list_events_by_type", {"event_type": "x", "limit": "10; DROP TABLE onex_event_store"}),
        "dlq",
    )
    add(
        "injection in the topic parameter",
        _command(
            "enqueue_outbox_event", {"topic": "onex.evt.a.b.v1; DROP TABLE onex_outbox", "payload": "x"}
        ),
        "dlq",
    )
    add(
        "extra parameter named sql",
        _command("get_event_by_id", {"envelope_id": str(known_id), "sql": "DROP TABLE onex_event_store"}),
        "dlq",
    )
    add(
        "extra top-level field sql",
        _command("count_outbox_by_status", {}, sql="DROP TABLE onex_outbox"),
        "dlq",
    )
    add("bigint overflow", _command("requeue_dead_letter_outbox", {"id": 2**63}), "dlq")
    add("negative id", _command("requeue_dead_letter_outbox", {"id": -1}), "dlq")
    add("impossible timestamp", _command("count_events_by_type", {"since": "2020-13-45T25:61:00Z"}), "dlq")
    add("parameters is a string", _command("count_outbox_by_status", "DROP TABLE onex_outbox"), "dlq")
    add("parameters is a list", _command("count_outbox_by_status", [1, 2]), "dlq")
    add("operation missing", {"parameters": {}}, "dlq")
    add("operation is an object", _command({"$ne": None}), "dlq")
    add(
        "NUL in a parameter",
        _command("enqueue_outbox_event", {"topic": outbox_topic, "payload": "a\u0000b"}),
        "dlq",
    )
    for name in (
        "drop_table",
        "get_event_by_id; DROP TABLE onex_event_store",
        "GET_EVENT_BY_ID",
        " get_event_by_id",
        "get_event_by_id\n",
        "claim_outbox_batch",
        "store_event_batch",
        "__class__",
        "",
        "SELECT 1",
        "pg_sleep",
    ):
        add(f"unknown or spoofed operation {name!r}", _command(name, {}), "dlq")
    add(
        "reply event type on a command",
        _command("count_outbox_by_status"),
        "completed",
        event_type="onex.postgres.operation.completed",
    )
    return records


def _collect(strategy: st.SearchStrategy[Any], count: int, seed: int) -> list[Any]:
    examples: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(example: Any) -> None:
        examples.append(example)

    collect()
    return examples[:count]


_json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_no_nul_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=64)
_fields = [
    "envelope_id",
    "payload",
    "event_type",
    "correlation_id",
    "metadata",
    "priority",
    "envelope_timestamp",
    "retry_count",
]


def generated_store_records(count: int, seed: int) -> list[HostileRecord]:
    """Random bytes, truncations, wrong types, NUL-laden and arbitrary-unicode envelopes."""
    per_kind = max(1, count // 6)
    out: list[HostileRecord] = []

    def add(label: str, value: bytes) -> None:
        verdict = expected_for_store(value)
        envelope_id = uuid.UUID(json.loads(value)["envelope_id"]) if verdict == "store" else None
        out.append(HostileRecord(label, "store", verdict, value, envelope_id=envelope_id))

    for blob in _collect(st.binary(max_size=4096), per_kind, seed):
        add("generated random bytes", blob)
    good = _raw(_document())
    for cut in _collect(st.integers(0, len(good) - 1), per_kind, seed + 1):
        add("generated truncation", good[:cut])
    for field, value in _collect(st.tuples(st.sampled_from(_fields), _json), per_kind, seed + 2):
        add("generated wrong-typed field", _raw(_document(**{field: value})))
    for payload, where in _collect(st.tuples(_json, st.integers(0, 10_000)), per_kind, seed + 3):
        text = json.dumps(payload)
        at = where % (len(text) + 1)
        add(
            "generated payload with NUL",
            _raw(_document(payload={"v": payload, "s": text[:at] + "\x00" + text[at:]})),
        )
    for payload in _collect(
        st.dictionaries(_no_nul_text, _no_nul_text | st.integers() | st.booleans(), max_size=6),
        per_kind,
        seed + 4,
    ):
        add("generated unicode payload", _raw(_document(payload=payload)))
    for document in _collect(_json, per_kind, seed + 5):
        add("generated JSON document", json.dumps(document).encode())
    return out


def generated_commands(
    count: int, seed: int, outbox_topic: str, operations: list[str]
) -> list[HostileRecord]:
    """Random operation names and parameters, and unicode outbox payloads."""
    out: list[HostileRecord] = []
    names = st.sampled_from(operations) | st.text(max_size=20)
    for name, parameters in _collect(
        st.tuples(names, st.dictionaries(st.text(max_size=12), _json, max_size=4)),
        max(1, count // 2),
        seed + 6,
    ):
        envelope_id, value = _envelope(
            _command(name, parameters), event_type="onex.postgres.operation.requested"
        )
        expect: Expect = "dlq" if _has_nul(name) or _has_nul(parameters) else "either"
        out.append(HostileRecord("generated command", "command", expect, value, envelope_id=envelope_id))
    for text in _collect(_no_nul_text.filter(bool), max(1, count // 2), seed + 7):
        envelope_id, value = _envelope(
            _command("enqueue_outbox_event", {"topic": outbox_topic, "payload": text}),
            event_type="onex.postgres.operation.requested",
        )
        out.append(
            HostileRecord(
                "generated unicode outbox payload",
                "command",
                "completed",
                value,
                envelope_id=envelope_id,
                injection=text,
                outbox_payload=text,
            )
        )
    return out


__all__ = [
    "INJECTIONS",
    "HostileRecord",
    "expected_for_store",
    "generated_commands",
    "generated_store_records",
    "good_event",
    "hand_written_commands",
    "hand_written_store_records",
]
