"""Property: environment detection over every variable, spelling, case, precedence and ENV paths."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from omnibase_infra.environment import (
    ENVIRONMENT_ALIASES,
    ENVIRONMENT_VARIABLES,
    SHELL_PATH_VARIABLES,
    EnumEnvironment,
    detect_environment,
    resolve_environment,
)
from omnibase_infra.errors import ConfigurationError

BLANKS = st.text(alphabet=" \t\n", max_size=3)


@st.composite
def spelling(draw: st.DrawFn, alias: str | None = None) -> tuple[str, EnumEnvironment]:
    """An alias in random case with random surrounding blanks, and what it means."""
    word = alias if alias is not None else draw(st.sampled_from(sorted(ENVIRONMENT_ALIASES)))
    cased = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)
    return draw(BLANKS) + cased + draw(BLANKS), ENVIRONMENT_ALIASES[word]


unknown_values = st.text(min_size=1, max_size=12).filter(
    lambda v: v.strip() != "" and v.strip().lower() not in ENVIRONMENT_ALIASES
)


def test_nothing_set_means_development() -> None:
    assert detect_environment({}) is EnumEnvironment.DEVELOPMENT


def test_the_documented_order() -> None:
    assert ENVIRONMENT_VARIABLES == (
        "ENVIRONMENT",
        "ENV",
        "DEPLOYMENT_ENV",
        "NODE_ENV",
        "OMNIBASE_ENV",
        "ONEX_ENV",
    )
    assert {a for a, e in ENVIRONMENT_ALIASES.items() if e is EnumEnvironment.PRODUCTION} == {
        "prod",
        "production",
        "live",
    }
    assert {a for a, e in ENVIRONMENT_ALIASES.items() if e is EnumEnvironment.STAGING} == {
        "stage",
        "staging",
        "stg",
    }
    assert {a for a, e in ENVIRONMENT_ALIASES.items() if e is EnumEnvironment.DEVELOPMENT} == {
        "dev",
        "development",
        "local",
        "test",
    }


@pytest.mark.parametrize("variable", ENVIRONMENT_VARIABLES)
@given(value=spelling())
def test_every_variable_reads_every_spelling(variable: str, value: tuple[str, EnumEnvironment]) -> None:
    text, expected = value
    assert detect_environment({variable: text}) is expected


@given(
    chosen=st.dictionaries(st.sampled_from(ENVIRONMENT_VARIABLES), spelling(), min_size=1),
    blank=st.sets(st.sampled_from(ENVIRONMENT_VARIABLES)),
    unrelated=st.dictionaries(st.sampled_from(["ENVIRONMENTS", "APP_ENV", "env"]), spelling()),
)
def test_the_first_non_blank_variable_in_order_decides(
    chosen: dict[str, tuple[str, EnumEnvironment]],
    blank: set[str],
    unrelated: dict[str, tuple[str, EnumEnvironment]],
) -> None:
    environ = {name: text for name, (text, _) in unrelated.items()}
    environ |= {name: " " for name in blank}
    environ |= {name: text for name, (text, _) in chosen.items()}
    winner = next((v for v in ENVIRONMENT_VARIABLES if environ.get(v, "").strip()), None)
    expected = EnumEnvironment.DEVELOPMENT if winner is None else chosen[winner][1]
    assert detect_environment(environ) is expected


@pytest.mark.parametrize("variable", ENVIRONMENT_VARIABLES)
@given(value=unknown_values, later=spelling())
def test_an_unknown_value_is_reported_with_its_variable(
    variable: str, value: str, later: tuple[str, EnumEnvironment]
) -> None:
    assume(not (variable in SHELL_PATH_VARIABLES and "/" in value))
    environ = {variable: value}
    environ |= {v: later[0] for v in ENVIRONMENT_VARIABLES[ENVIRONMENT_VARIABLES.index(variable) + 1 :]}
    with pytest.raises(ConfigurationError) as caught:
        detect_environment(environ)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: unrecognised environment")


shell_paths = st.builds(
    lambda head, tail: f"{head}/{tail}", st.text(max_size=8), st.text(max_size=12)
).filter(lambda v: v.strip() != "")


@given(
    path=shell_paths,
    earlier_blank=st.booleans(),
    later=st.dictionaries(st.sampled_from(ENVIRONMENT_VARIABLES[2:]), spelling()),
)
def test_a_path_in_env_is_skipped_with_a_warning(
    path: str, earlier_blank: bool, later: dict[str, tuple[str, EnumEnvironment]]
) -> None:
    environ = {name: text for name, (text, _) in later.items()} | {"ENV": path}
    if earlier_blank:
        environ["ENVIRONMENT"] = " "
    without_env = {k: v for k, v in environ.items() if k != "ENV"}

    detection = resolve_environment(environ)

    assert detection.environment is detect_environment(without_env)
    assert detection.skipped == (("ENV", path),)
    assert detection.variable == next((v for v in ENVIRONMENT_VARIABLES if v in later), None)
    assert detection.warnings[0].startswith(f"ENV={path!r} looks like a file path")
    assert "ignored" in detection.warnings[0]


@pytest.mark.parametrize("variable", [v for v in ENVIRONMENT_VARIABLES if v not in SHELL_PATH_VARIABLES])
@given(path=shell_paths)
def test_a_path_elsewhere_is_still_an_unknown_value(variable: str, path: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_environment({"ONEX_ENV": "production", variable: path})
    assert caught.value.variable == variable


def test_the_posix_shell_start_up_file_runs_the_named_environment() -> None:
    detection = resolve_environment({"ENV": "/root/.bashrc", "NODE_ENV": "production"})
    assert (detection.environment, detection.variable) == (EnumEnvironment.PRODUCTION, "NODE_ENV")
    assert len(detection.warnings) == 1


def test_no_variable_set_warns_naming_every_variable_and_development() -> None:
    (warning,) = resolve_environment({"ENV": " "}).warnings
    assert warning.startswith("no environment is set (looked at " + ", ".join(ENVIRONMENT_VARIABLES) + ")")
    assert "running as development" in warning
    assert "trace sampling 1.0" in warning


def test_a_path_in_env_alone_gives_both_warnings() -> None:
    detection = resolve_environment({"ENV": "/etc/profile"})
    assert (detection.environment, detection.variable) == (EnumEnvironment.DEVELOPMENT, None)
    assert [w.split(" ", 1)[0] for w in detection.warnings] == ["ENV='/etc/profile'", "no"]


@given(chosen=st.dictionaries(st.sampled_from(ENVIRONMENT_VARIABLES), spelling(), min_size=1))
def test_a_named_environment_gives_no_warning(chosen: dict[str, tuple[str, EnumEnvironment]]) -> None:
    assert resolve_environment({name: text for name, (text, _) in chosen.items()}).warnings == ()
