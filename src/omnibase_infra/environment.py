"""Deployment environment detection.

Variables are read in the order ENVIRONMENT, ENV, DEPLOYMENT_ENV, NODE_ENV,
OMNIBASE_ENV, ONEX_ENV; the first one that is set and non-empty decides.
An unrecognised value is an error naming the variable, never silently mapped.

One exception: a POSIX shell gives ``ENV`` the path of its start-up file
(``ENV=/root/.bashrc``), so a value of ``ENV`` that contains ``/`` is a path, not an
environment name. It is skipped (the next variable may decide) and reported in
``EnvironmentDetection.warnings`` instead of stopping the service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
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


# Variables that a shell may set to a file path: a value with "/" in them is not a name.
SHELL_PATH_VARIABLES: frozenset[str] = frozenset({"ENV"})


@dataclass(frozen=True, slots=True)
class EnvironmentDetection:
    """The detected environment, the variable that decided it, and the values skipped.

    ``variable`` is ``None`` when no variable was set (the environment is then
    development by default); ``skipped`` holds ``(variable, value)`` pairs that were
    file paths in a shell variable, not environment names.
    """

    environment: EnumEnvironment
    variable: str | None
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """What an operator should be told at startup (empty when a variable decided cleanly)."""
        notes = [
            f"{name}={value!r} looks like a file path (a POSIX shell sets {name} to its start-up "
            "file), not an environment name; it was ignored"
            for name, value in self.skipped
        ]
        if self.variable is None:
            notes.append(
                "no environment is set (looked at "
                + ", ".join(ENVIRONMENT_VARIABLES)
                + "): running as development (the contracts' development values, such as the "
                "breaker thresholds, and trace sampling 1.0 unless OTEL_TRACE_SAMPLE_RATE is set); "
                "a deployment sets ENVIRONMENT=production or ENVIRONMENT=staging"
            )
        return tuple(notes)


def resolve_environment(environ: Mapping[str, str] | None = None) -> EnvironmentDetection:
    """Detect the environment and say how: the deciding variable and the skipped values.

    Raises ``ConfigurationError`` naming the variable for an unrecognised value.
    """
    env = os.environ if environ is None else environ
    skipped: list[tuple[str, str]] = []
    for variable in ENVIRONMENT_VARIABLES:
        value = env.get(variable)
        if value is None or not value.strip():
            continue
        if variable in SHELL_PATH_VARIABLES and "/" in value:
            skipped.append((variable, value))
            continue
        return EnvironmentDetection(parse_environment(value, variable), variable, tuple(skipped))
    return EnvironmentDetection(EnumEnvironment.DEVELOPMENT, None, tuple(skipped))


def detect_environment(environ: Mapping[str, str] | None = None) -> EnumEnvironment:
    """Return the environment named by the first set variable; development if none is set.

    A file path in ``ENV`` (a shell's start-up file) does not count as set.
    """
    return resolve_environment(environ).environment


__all__ = [
    "ENVIRONMENT_ALIASES",
    "ENVIRONMENT_VARIABLES",
    "SHELL_PATH_VARIABLES",
    "EnumEnvironment",
    "EnvironmentDetection",
    "detect_environment",
    "parse_environment",
    "resolve_environment",
]
