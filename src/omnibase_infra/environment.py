"""Deployment environment detection (docs/configuration.md).

Variables are read in the order ENVIRONMENT, ENV, DEPLOYMENT_ENV, NODE_ENV,
OMNIBASE_ENV, ONEX_ENV; the first one that is set and non-empty decides.
An unrecognised value is an error naming the variable, never silently mapped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

from omnibase_infra.errors import ConfigurationError

ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "ENVIRONMENT",
    "ENV",
    "DEPLOYMENT_ENV",
    "NODE_ENV",
    "OMNIBASE_ENV",
    "ONEX_ENV",
)


class EnumEnvironment(StrEnum):
    """The three deployment environments the contracts carry values for."""

    PRODUCTION = "production"
    STAGING = "staging"
    DEVELOPMENT = "development"


ENVIRONMENT_ALIASES: Mapping[str, EnumEnvironment] = {
    "prod": EnumEnvironment.PRODUCTION,
    "production": EnumEnvironment.PRODUCTION,
    "live": EnumEnvironment.PRODUCTION,
    "stage": EnumEnvironment.STAGING,
    "staging": EnumEnvironment.STAGING,
    "stg": EnumEnvironment.STAGING,
    "dev": EnumEnvironment.DEVELOPMENT,
    "development": EnumEnvironment.DEVELOPMENT,
    "local": EnumEnvironment.DEVELOPMENT,
    "test": EnumEnvironment.DEVELOPMENT,
}


def parse_environment(value: str, variable: str = "ENVIRONMENT") -> EnumEnvironment:
    """Map one spelling (case and surrounding blanks ignored) to an environment.

    Raises ``ConfigurationError`` naming ``variable`` for an unknown spelling.
    """
    key = value.strip().lower()
    try:
        return ENVIRONMENT_ALIASES[key]
    except KeyError:
        allowed = ", ".join(sorted(ENVIRONMENT_ALIASES))
        raise ConfigurationError(
            variable, f"unrecognised environment {value!r} (expected one of: {allowed})"
        ) from None


def detect_environment(environ: Mapping[str, str] | None = None) -> EnumEnvironment:
    """Return the environment named by the first set variable; development if none is set."""
    env = os.environ if environ is None else environ
    for variable in ENVIRONMENT_VARIABLES:
        value = env.get(variable)
        if value is not None and value.strip():
            return parse_environment(value, variable)
    return EnumEnvironment.DEVELOPMENT


__all__ = [
    "ENVIRONMENT_ALIASES",
    "ENVIRONMENT_VARIABLES",
    "EnumEnvironment",
    "detect_environment",
    "parse_environment",
]
