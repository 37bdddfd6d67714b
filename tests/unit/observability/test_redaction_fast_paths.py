"""The shortcuts of redaction give exactly what the full walk gives (Hypothesis).

``redact`` runs its patterns only on texts that can match them; ``SecretRegistry.dumps`` and
``redact_plain_json`` walk a JSON value only when its text may hold something to mask. Each is
compared here with the walk it replaces, on values built to hold secrets (with characters JSON
escapes), DSNs, ``key=value`` pairs and the line separators.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from omnibase_infra.json_types import JsonValue
from omnibase_infra.observability import redaction
from omnibase_infra.observability.redaction import MASK, SecretRegistry

SECRETS = ("hunter2", 'q"uo\\te', "üñí-cødé", "tab\tnew\nline", "\u2028sep")
PIECES = (
    *SECRETS,
    "postgresql://app:pw@db/x",
    "user@host",
    "://",
    "password=abc",
    "pwd = 'x y'",
    "=",
    "@",
    "plain",
    "\u0085",
    '"',
    "\\",
)

text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=5).map("".join)
scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
plain_json = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)


def _registry() -> SecretRegistry:
    registry = SecretRegistry()
    for secret in SECRETS:
        registry.register(secret)
    return registry


def _full_redact(registry: SecretRegistry, value: str) -> str:
    """The patterns run on every text (what ``redact`` did before its gates)."""
    for secret in sorted(SECRETS, key=len, reverse=True):
        value = value.replace(secret, MASK)
    value = redaction._DSN_PASSWORD.sub(lambda m: m.group("head") + MASK, value)
    return redaction._KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, value)


@settings(max_examples=400, deadline=None)
@given(text)
def test_redact_equals_the_ungated_patterns(value: str) -> None:
    assert _registry().redact(value) == _full_redact(_registry(), value)


@settings(max_examples=400, deadline=None)
@given(plain_json, st.booleans())
def test_dumps_equals_dumps_of_redact_json(value: JsonValue, ensure_ascii: bool) -> None:
    registry = _registry()
    expected = json.dumps(registry.redact_json(value), ensure_ascii=ensure_ascii, separators=(",", ":"))
    assert registry.dumps(value, ensure_ascii=ensure_ascii, separators=(",", ":")) == expected


@settings(max_examples=400, deadline=None)
@given(plain_json)
def test_redact_plain_json_equals_redact_json(value: JsonValue) -> None:
    registry = _registry()
    assert registry.redact_plain_json(value) == registry.redact_json(value)


def test_a_secret_in_a_nested_value_is_masked_by_every_path() -> None:
    registry = _registry()
    value: JsonValue = {"outer": [{"k": 'say q"uo\\te'}], "üñí-cødé": 1}
    for dumped in (registry.dumps(value), registry.dumps(value, ensure_ascii=False)):
        assert 'q\\"uo' not in dumped
        assert "cødé" not in dumped and "c\\u00f8d" not in dumped
        assert json.loads(dumped) == {"outer": [{"k": f"say {MASK}"}], MASK: 1}
    assert registry.redact_plain_json(value) == {"outer": [{"k": f"say {MASK}"}], MASK: 1}


def test_a_non_ascii_secret_is_found_in_ascii_escaped_text() -> None:
    registry = _registry()
    assert registry.dumps(["üñí-cødé"]) == json.dumps([MASK])
    assert registry.dumps(["üñí-cødé"], ensure_ascii=False) == json.dumps([MASK])


def test_escaped_forms_follow_register_and_clear() -> None:
    registry = SecretRegistry()
    assert registry.clean_json_text(json.dumps({"k": 'q"uo\\te'}))
    registry.register('q"uo\\te')
    assert not registry.clean_json_text(json.dumps({"k": 'q"uo\\te'}))
    registry.clear()
    assert registry.clean_json_text(json.dumps({"k": 'q"uo\\te'}))
