"""Environment detection: first set variable wins, aliases map, unknown spellings are named."""

from __future__ import annotations

import pytest

from omnibase_infra.environment import (
    ENVIRONMENT_VARIABLES,
    EnumEnvironment,
    detect_environment,
    parse_environment,
)
from omnibase_infra.errors import ConfigurationError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("prod", EnumEnvironment.PRODUCTION),
        (" Production ", EnumEnvironment.PRODUCTION),
        ("LIVE", EnumEnvironment.PRODUCTION),
        ("stg", EnumEnvironment.STAGING),
        ("staging", EnumEnvironment.STAGING),
        ("local", EnumEnvironment.DEVELOPMENT),
        ("test", EnumEnvironment.DEVELOPMENT),
    ],
)
def test_aliases(value: str, expected: EnumEnvironment) -> None:
    assert parse_environment(value) is expected


def test_nothing_set_means_development() -> None:
    assert detect_environment({}) is EnumEnvironment.DEVELOPMENT


def test_variables_are_read_in_order_and_blanks_skipped() -> None:
    assert ENVIRONMENT_VARIABLES[0] == "ENVIRONMENT"
    environ = {"ENVIRONMENT": "  ", "ENV": "staging", "NODE_ENV": "production"}

    assert detect_environment(environ) is EnumEnvironment.STAGING


def test_unknown_value_names_the_variable_that_held_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        detect_environment({"NODE_ENV": "qa-blue"})

    assert caught.value.variable == "NODE_ENV"
    assert "qa-blue" in caught.value.reason
    assert "production" in caught.value.reason
