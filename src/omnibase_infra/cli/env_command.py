"""``onex-infra env check [--json] [--verbose] [--timeout_seconds S]``: is this environment ready to run?

Checks, each printed as a pass/warn/fail line with a hint:

- every variable ``load_settings`` reads: present when required, parses (one line per problem);
- PostgreSQL: connects, server version, schema version against this release's migrations;
- Kafka: TCP to the bootstrap servers, then a metadata request through aiokafka;
- the OTLP endpoint, when ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` is set: TCP and an empty export
  over the configured protocol (HTTP POST or gRPC ``Export``) with the configured headers;
- HEALTH_CHECK_PORT and PROMETHEUS_METRICS_PORT are free (in use is a warning only).

A server whose variables are bad is skipped, not tried. Exit 0 when nothing failed
(warnings allowed), 1 otherwise. Secrets are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Mapping

from omnibase_infra.cli.console import Console, quiet_library_logs
from omnibase_infra.cli.env_checks import CheckResult, VariableReport, check_ports, check_variables
from omnibase_infra.cli.env_servers import check_kafka, check_otlp, check_postgres
from omnibase_infra.observability.redaction import SecretRegistry, register_otlp_headers

_SECRET_VARIABLES = (
    "POSTGRES_PASSWORD",
    "KAFKA_SASL_PASSWORD",
    "ONEX_ADMIN_TOKEN",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
)
_GROUP_TITLES = {
    "variables": "Variables",
    "postgres": "PostgreSQL",
    "kafka": "Kafka",
    "otlp": "OTLP endpoint",
    "ports": "Ports",
}


def _redactor(environ: Mapping[str, str], report: VariableReport) -> SecretRegistry:
    registry = SecretRegistry()
    for name in _SECRET_VARIABLES:
        registry.register(environ.get(name))
    if report.settings is not None:
        registry.register(report.settings.postgres.password)
        registry.register(report.settings.kafka_security.sasl_password)
        registry.register(report.settings.admin_token)
        register_otlp_headers(registry, report.settings)
    return registry


def _skipped(group: str, why: str) -> list[CheckResult]:
    return [CheckResult(group, "check", "skip", why)]


async def run_checks(
    environ: Mapping[str, str], *, timeout_seconds: float = 5.0, verbose: bool = False
) -> tuple[VariableReport, list[CheckResult]]:
    """The variable report and every result, in display order."""
    report = check_variables(environ, SecretRegistry(), verbose=verbose)
    redactor = _redactor(environ, report)
    # Again with every secret registered, so that no value shown can carry one.
    report = check_variables(environ, redactor, verbose=verbose)
    settings = report.settings
    fix_first = "fix the {} variables above first"
    pending: dict[str, Awaitable[list[CheckResult]]] = {}
    skipped: dict[str, list[CheckResult]] = {}
    if settings is None or "postgres" in report.bad_groups:
        skipped["postgres"] = _skipped("postgres", fix_first.format("POSTGRES_*"))
    else:
        pending["postgres"] = check_postgres(settings.postgres, timeout_seconds)
    if settings is None or "kafka" in report.bad_groups:
        skipped["kafka"] = _skipped("kafka", fix_first.format("KAFKA_*"))
    else:
        pending["kafka"] = check_kafka(
            settings.kafka_bootstrap_servers, settings.kafka_security, timeout_seconds
        )
    if settings is None or "telemetry" in report.bad_groups:
        skipped["otlp"] = _skipped("otlp", fix_first.format("OTEL_*"))
    else:
        pending["otlp"] = check_otlp(settings.telemetry, timeout_seconds, redactor.redact)
    done = dict(zip(pending, await asyncio.gather(*pending.values()), strict=True))
    results = list(report.results)
    for group in ("postgres", "kafka", "otlp"):
        results.extend(done.get(group) or skipped.get(group) or [])
    if settings is not None and "service" not in report.bad_groups:
        results.extend(check_ports(settings))
    cleaned = [
        CheckResult(r.group, r.name, r.status, redactor.redact(r.detail), redactor.redact(r.hint))
        for r in results
    ]
    return report, cleaned


def render(console: Console, report: VariableReport, results: list[CheckResult]) -> None:
    width = max((len(r.name) for r in results), default=10)
    group = ""
    for result in results:
        if result.group != group:
            group = result.group
            console.line(console.style(_GROUP_TITLES.get(group, group), "bold"))
        console.line(f"  {console.mark(result.status)}  {result.name.ljust(width)}  {result.detail}")
        if result.hint and result.status in ("fail", "warn"):
            console.line(f"        {' ' * width}  hint: {result.hint}")
        if group == "variables" and result is _last_of(results, "variables") and report.unset_optional:
            count = len(report.unset_optional)
            console.line(
                f"  {console.style('....', 'dim')}  {count} optional variables not set: "
                "defaults apply (--verbose lists them)"
            )
    failed = [r for r in results if r.status == "fail"]
    warned = [r for r in results if r.status == "warn"]
    console.line()
    if failed:
        console.line(console.style(f"env check: {len(failed)} problem(s), {len(warned)} warning(s)", "red"))
    else:
        extra = f" ({len(warned)} warning(s))" if warned else ""
        console.line(console.style(f"env check: all checks passed{extra}", "green"))


def _last_of(results: list[CheckResult], group: str) -> CheckResult | None:
    members = [r for r in results if r.group == group]
    return members[-1] if members else None


def run_check(args: argparse.Namespace) -> int:
    """Run every check, print the report; 0 when nothing failed, 1 otherwise."""
    console = Console()
    quiet_library_logs()
    report, results = asyncio.run(
        run_checks(os.environ, timeout_seconds=float(args.timeout), verbose=bool(args.verbose))
    )
    ok = not any(r.status == "fail" for r in results)
    if args.json:
        console.json(
            {
                "ok": ok,
                "problems": sum(r.status == "fail" for r in results),
                "warnings": sum(r.status == "warn" for r in results),
                "checks": [r.as_json() for r in results],
            }
        )
    else:
        render(console, report, results)
    return 0 if ok else 1


__all__ = ["render", "run_check", "run_checks"]
