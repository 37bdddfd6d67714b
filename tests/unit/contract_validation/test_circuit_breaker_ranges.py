"""Property: every circuit-breaker field accepts exactly its range, in the model and in the schema."""

from __future__ import annotations

import json
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from omnibase_infra.contract_validation.schema_builder import SCHEMA_DIR, SCHEMA_FILES
from omnibase_infra.models.model_circuit_breaker_config import PRODUCTION_DEFAULT, ModelCircuitBreakerConfig

RANGES = {
    "failure_threshold": (1, 20),
    "recovery_timeout": (5, 300),
    "success_threshold": (1, 10),
    "timeout_seconds": (5, 120),
    "max_queue_size": (10, 10000),
}


@cache
def breaker_schema() -> Draft202012Validator:
    """The breaker definition of the shipped node-contract schema."""
    schema = json.loads((SCHEMA_DIR / SCHEMA_FILES["node"]).read_text(encoding="utf-8"))
    return Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/ModelCircuitBreakerConfig"})


def _with(field: str, value: int) -> dict[str, object]:
    return {**PRODUCTION_DEFAULT.model_dump(), field: value}


def _out_of_range(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1))


@pytest.mark.parametrize("field", sorted(RANGES))
def test_model_and_schema_state_the_same_range(field: str) -> None:
    low, high = RANGES[field]
    props = ModelCircuitBreakerConfig.model_json_schema()["properties"][field]
    assert (props["minimum"], props["maximum"]) == (low, high)


@pytest.mark.parametrize("field", sorted(RANGES))
@given(data=st.data())
def test_in_range_values_are_accepted(field: str, data: st.DataObject) -> None:
    low, high = RANGES[field]
    value = data.draw(st.integers(min_value=low, max_value=high))
    assert getattr(ModelCircuitBreakerConfig.model_validate(_with(field, value)), field) == value
    assert list(breaker_schema().iter_errors(_with(field, value))) == []


@pytest.mark.parametrize("field", sorted(RANGES))
@given(data=st.data())
def test_out_of_range_values_are_rejected_at_the_field(field: str, data: st.DataObject) -> None:
    low, high = RANGES[field]
    value = data.draw(_out_of_range(low, high))
    with pytest.raises(ValidationError) as caught:
        ModelCircuitBreakerConfig.model_validate(_with(field, value))
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]
    errors = list(breaker_schema().iter_errors(_with(field, value)))
    assert [list(e.absolute_path) for e in errors] == [[field]]


@given(flag=st.sampled_from(["dead_letter_enabled", "graceful_degradation"]), value=st.booleans())
def test_policy_flags_take_booleans_only(flag: str, value: bool) -> None:
    assert list(breaker_schema().iter_errors({**PRODUCTION_DEFAULT.model_dump(), flag: value})) == []
    assert list(breaker_schema().iter_errors({**PRODUCTION_DEFAULT.model_dump(), flag: int(value)})) != []
