"""The variable and port checks of ``onex-infra env check``, and the result type of every check.

``check_variables`` runs ``load_settings`` (the service's own validation) and turns each
problem it reports into one failed line carrying the variable's meaning as the hint. When
some variables are bad it still derives settings for the server checks from the good ones,
and names the groups (postgres, kafka, telemetry) whose server checks must be skipped.

Nothing here prints a secret: secret variables are shown as "set (hidden)", and every
detail passes through a ``SecretRegistry`` holding the configured secret values.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from omnibase_infra.cli.env_variables import VARIABLES, EnvVariable, problem_variables, variable_for
from omnibase_infra.environment import ENVIRONMENT_VARIABLES, resolve_environment
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.settings import ModelInfraSettings, load_settings, load_tuning_variables

if TYPE_CHECKING:
    from omnibase_infra.cli.console import Status
    from omnibase_infra.observability.redaction import SecretRegistry

_MAX_VALUE = 70
_PLACEHOLDER = "unset.invalid"


@dataclass(frozen=True)
class CheckResult:
    """One line of the report."""

    group: str
    name: str
    status: Status
    detail: str
    hint: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "group": self.group,
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint,
        }


@dataclass
class VariableReport:
    results: list[CheckResult]
    settings: ModelInfraSettings | None
    bad_groups: set[str] = field(default_factory=set)
    unset_optional: list[EnvVariable] = field(default_factory=list)


def _group_of(problem_name: str) -> str:
    for prefix, group in (("POSTGRES", "postgres"), ("KAFKA", "kafka"), ("OTEL", "telemetry")):
        if problem_name.startswith(prefix):
            return group
    return "environment" if problem_name in ENVIRONMENT_VARIABLES else "service"


def _shown(value: str, redactor: SecretRegistry) -> str:
    text = redactor.redact(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def _environment_line(environ: Mapping[str, str], settings: ModelInfraSettings | None) -> str:
    """The ENVIRONMENT line (called only when detection raised no problem)."""
    detection = resolve_environment(environ)
    skipped = "".join(f" ({name}={value} ignored: a file path)" for name, value in detection.skipped)
    if detection.variable is None:
        return f"not set -> development (default){skipped}"
    value = environ[detection.variable].strip()
    resolved = f" -> {settings.environment.value}" if settings is not None else ""
    return f"{detection.variable}={value}{resolved}{skipped}"


def _value_line(variable: EnvVariable, environ: Mapping[str, str], redactor: SecretRegistry) -> str | None:
    """What to show for a set variable, or ``None`` when it is not set."""
    if variable.file_variant and environ.get(variable.file_variant):
        return f"read from {variable.file_variant}={_shown(environ[variable.file_variant], redactor)}"
    value = environ.get(variable.name)
    if value is None or not value.strip():
        return None
    return "set (hidden)" if variable.secret else _shown(value.strip(), redactor)


_GROUP_PREFIXES = ("POSTGRES", "KAFKA", "OTEL")


def _environment_without(environ: Mapping[str, str], bad: set[str]) -> dict[str, str]:
    """``environ`` minus the bad variables (a bare group name drops its group), required ones stubbed."""
    dropped_groups = tuple(f"{name}_" for name in bad if name in _GROUP_PREFIXES)
    env = {
        k: v
        for k, v in environ.items()
        if k not in bad and f"{k}_FILE" not in bad and not k.startswith(dropped_groups or ("\0",))
    }
    for variable in VARIABLES:
        if variable.required and not env.get(variable.name, "").strip():
            env[variable.name] = "unset.invalid:1" if variable.name.startswith("KAFKA") else _PLACEHOLDER
    return env


def _fallback_settings(
    environ: Mapping[str, str], problems: list[tuple[str, str]]
) -> tuple[ModelInfraSettings | None, list[tuple[str, str]]]:
    """Settings from the good variables only, and the problems that surfaced on the way.

    ``load_settings`` checks cross-field rules (e.g. ``verify-full`` needs a CA file) only
    once every variable parses, so dropping the bad ones can reveal more problems; they
    are returned so that one run reports them all. The groups of dropped variables are
    in ``bad_groups``, so their stubbed values are never used for a server check.
    """
    bad = {variable for name, _ in problems for variable in problem_variables(name)}
    extra: list[tuple[str, str]] = []
    for _ in range(3):
        try:
            return load_settings(_environment_without(environ, bad)), extra
        except ConfigurationError as exc:
            new = [(name, reason) for name, reason in exc.problems if not set(problem_variables(name)) <= bad]
            if not new:
                break
            extra.extend(new)
            bad.update(variable for name, _ in new for variable in problem_variables(name))
    return None, extra


def check_variables(
    environ: Mapping[str, str], redactor: SecretRegistry, *, verbose: bool = False
) -> VariableReport:
    """One line per catalogued variable that is set, required or bad (every one with ``verbose``)."""
    fallback: ModelInfraSettings | None = None
    try:
        settings: ModelInfraSettings | None = load_settings(environ)
        problems: list[tuple[str, str]] = []
    except ConfigurationError as exc:
        settings = None
        problems = list(exc.problems)
        fallback, extra = _fallback_settings(environ, problems)
        problems.extend(extra)
    try:
        load_tuning_variables(environ)
    except ConfigurationError as exc:
        problems.extend(p for p in exc.problems if p not in problems)
    by_variable: dict[str, list[str]] = {}
    orphans: list[tuple[str, str]] = []
    for name, reason in problems:
        variable = variable_for(name)
        if variable is None:
            orphans.append((name, reason))
        else:
            by_variable.setdefault(variable.name, []).append(f"{name} {reason}")

    report = VariableReport([], settings or fallback, {_group_of(name) for name, _ in problems})
    for variable in VARIABLES:
        reasons = by_variable.get(variable.name)
        if reasons:
            for reason in reasons:
                report.results.append(
                    CheckResult("variables", variable.name, "fail", redactor.redact(reason), variable.meaning)
                )
            continue
        if variable.name == "ENVIRONMENT":
            report.results.append(
                CheckResult("variables", variable.name, "pass", _environment_line(environ, settings))
            )
            continue
        shown = _value_line(variable, environ, redactor)
        if shown is not None:
            report.results.append(CheckResult("variables", variable.name, "pass", shown))
        elif verbose:
            default = f"default {variable.default}" if variable.default is not None else "no default"
            report.results.append(
                CheckResult("variables", variable.name, "pass", f"not set ({default})", variable.meaning)
            )
        else:
            report.unset_optional.append(variable)
    for name, reason in orphans:
        hint = f"the {name}_* variables disagree" if name in _GROUP_PREFIXES else "see docs/configuration.md"
        report.results.append(
            CheckResult("variables", name, "fail", redactor.redact(f"{name}: {reason}"), hint)
        )
    if report.settings is None:
        report.bad_groups.update({"postgres", "kafka", "telemetry", "service"})
    return report


def check_ports(settings: ModelInfraSettings) -> list[CheckResult]:
    """Whether HEALTH_CHECK_PORT and PROMETHEUS_METRICS_PORT can be bound (in use is a warning)."""
    results: list[CheckResult] = []
    for name, port in (
        ("HEALTH_CHECK_PORT", settings.health_check_port),
        ("PROMETHEUS_METRICS_PORT", settings.prometheus_metrics_port),
    ):
        if port == 0:
            results.append(CheckResult("ports", name, "pass", "0: a free port is picked at startup"))
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((settings.http_host, port))
        except OSError as exc:
            in_use = exc.errno == errno.EADDRINUSE
            reason = "in use" if in_use else (exc.strerror or type(exc).__name__)
            hint = (
                "is the service already running? `onex-infra health` - or choose another port"
                if in_use
                else f"check HEALTH_CHECK_HOST={settings.http_host}"
            )
            results.append(CheckResult("ports", name, "warn", f"{settings.http_host}:{port} {reason}", hint))
        else:
            results.append(CheckResult("ports", name, "pass", f"{settings.http_host}:{port} is free"))
    return results


__all__ = ["CheckResult", "VariableReport", "check_ports", "check_variables"]
