"""``env check``'s variable checks and report, without servers."""

from __future__ import annotations

import io

from omnibase_infra.cli.console import Console
from omnibase_infra.cli.env_checks import CheckResult, check_variables
from omnibase_infra.cli.env_command import render
from omnibase_infra.cli.env_servers import bootstrap_hosts, check_otlp, traces_url
from omnibase_infra.cli.env_variables import VARIABLES, variable_for
from omnibase_infra.observability.redaction import SecretRegistry
from omnibase_infra.settings import ModelTelemetrySettings

PASSWORD = "s3cr3t-Passw0rd"
GOOD = {
    "POSTGRES_HOST": "db.internal",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "svc",
    "POSTGRES_PASSWORD": PASSWORD,
    "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
}


def registry() -> SecretRegistry:
    secrets = SecretRegistry()
    secrets.register(PASSWORD)
    return secrets


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status == "fail"]


def test_a_good_environment_passes_and_hides_the_password() -> None:
    report = check_variables(GOOD, registry())
    assert failures(report.results) == []
    assert report.settings is not None and report.bad_groups == set()
    shown = {r.name: r.detail for r in report.results}
    assert shown["POSTGRES_PASSWORD"] == "set (hidden)"
    assert shown["POSTGRES_HOST"] == "db.internal"
    assert shown["ENVIRONMENT"] == "not set -> development (default)"
    assert all(PASSWORD not in r.detail for r in report.results)


def test_a_shell_start_up_file_in_env_is_shown_as_ignored() -> None:
    shell = check_variables({**GOOD, "ENV": "/root/.bashrc"}, registry())
    shown = {r.name: r.detail for r in shell.results}
    assert failures(shell.results) == []
    assert shown["ENVIRONMENT"] == "not set -> development (default) (ENV=/root/.bashrc ignored: a file path)"
    named = check_variables({**GOOD, "ENV": "/root/.bashrc", "NODE_ENV": "prod"}, registry())
    shown = {r.name: r.detail for r in named.results}
    assert shown["ENVIRONMENT"] == "NODE_ENV=prod -> production (ENV=/root/.bashrc ignored: a file path)"


def test_each_missing_variable_is_one_failed_line_with_a_hint() -> None:
    env = {k: v for k, v in GOOD.items() if k not in ("POSTGRES_HOST", "KAFKA_BOOTSTRAP_SERVERS")}
    report = check_variables(env, registry())
    failed = failures(report.results)
    assert [(r.name, r.detail) for r in failed] == [
        ("POSTGRES_HOST", "POSTGRES_HOST is required but not set"),
        ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS is required but not set"),
    ]
    assert all(r.hint for r in failed)
    assert {"postgres", "kafka"} <= report.bad_groups
    assert report.settings is not None  # the other checks can still run from the good variables


def test_malformed_values_name_the_variable() -> None:
    env = {**GOOD, "POSTGRES_PORT": "fivefourthreetwo", "HEALTH_CHECK_PORT": "70000", "ENV": "qa"}
    failed = failures(check_variables(env, registry()).results)
    assert {r.name for r in failed} == {"POSTGRES_PORT", "HEALTH_CHECK_PORT", "ENVIRONMENT"}
    by_name = {r.name: r.detail for r in failed}
    assert by_name["POSTGRES_PORT"] == "POSTGRES_PORT 'fivefourthreetwo' is not a port number"
    assert by_name["ENVIRONMENT"].startswith("ENV unrecognised environment 'qa'")


def test_cross_field_problems_are_reported_in_the_same_run_as_missing_ones() -> None:
    env = {k: v for k, v in GOOD.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["POSTGRES_SSL_MODE"] = "verify-full"  # needs POSTGRES_SSL_CA_FILE
    report = check_variables(env, registry())
    by_name = {r.name: r.detail for r in failures(report.results)}
    assert sorted(by_name) == ["KAFKA_BOOTSTRAP_SERVERS", "POSTGRES_SSL_CA_FILE"]
    assert "ssl_mode verify-full needs ssl_ca_file" in by_name["POSTGRES_SSL_CA_FILE"]
    assert {"postgres", "kafka"} <= report.bad_groups


def test_a_rule_over_two_variables_is_one_line_under_the_first() -> None:
    env = {**GOOD, "POSTGRES_MIN_CONNECTIONS": "20", "POSTGRES_MAX_CONNECTIONS": "5"}
    report = check_variables(env, registry())
    [failed] = failures(report.results)
    assert failed.name == "POSTGRES_MIN_CONNECTIONS"
    assert failed.detail.startswith("POSTGRES_MIN_CONNECTIONS, POSTGRES_MAX_CONNECTIONS ")
    assert "postgres" in report.bad_groups and report.settings is not None


def test_secret_from_a_file_that_cannot_be_read() -> None:
    env = {k: v for k, v in GOOD.items() if k != "POSTGRES_PASSWORD"}
    env["POSTGRES_PASSWORD_FILE"] = "/nonexistent/pg-password"
    [failed] = failures(check_variables(env, registry()).results)
    assert failed.name == "POSTGRES_PASSWORD"
    assert failed.detail.startswith("POSTGRES_PASSWORD_FILE cannot read secret file")


def test_a_dsn_in_a_value_is_masked() -> None:
    env = {**GOOD, "OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:tok3n@collector:4318"}
    shown = {r.name: r.detail for r in check_variables(env, registry()).results}
    assert shown["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://user:***@collector:4318"


def test_verbose_lists_every_variable() -> None:
    quiet = check_variables(GOOD, registry())
    verbose = check_variables(GOOD, registry(), verbose=True)
    assert len(verbose.results) == len(VARIABLES)
    assert len(quiet.results) + len(quiet.unset_optional) == len(VARIABLES)


def test_render_prints_one_fail_line_per_problem_and_a_summary() -> None:
    env = {k: v for k, v in GOOD.items() if k != "POSTGRES_USER"}
    report = check_variables(env, registry())
    results = [
        *report.results,
        CheckResult("postgres", "check", "skip", "fix the POSTGRES_* variables above first"),
        CheckResult("kafka", "connect", "fail", "k1:9092: connection refused", "is the broker running?"),
    ]
    out = io.StringIO()
    render(Console(out, colour=False), report, results)
    lines = out.getvalue().splitlines()
    fail_lines = [line for line in lines if line.lstrip().startswith("FAIL")]
    assert len(fail_lines) == 2
    assert "POSTGRES_USER is required but not set" in fail_lines[0]
    assert "hint: is the broker running?" in out.getvalue()
    assert lines[-1] == "env check: 2 problem(s), 0 warning(s)"
    assert "\x1b[" not in out.getvalue()


def test_variable_for_maps_file_and_alias_names() -> None:
    assert variable_for("POSTGRES_PASSWORD_FILE") is not None
    assert variable_for("ONEX_ENV") is not None and variable_for("ONEX_ENV").name == "ENVIRONMENT"  # type: ignore[union-attr]
    assert variable_for("POSTGRES") is None
    assert variable_for("KAFKA_SSL_CA_FILE/KAFKA_SSL_CERT_FILE") is not None


def test_bootstrap_hosts_and_traces_url() -> None:
    assert bootstrap_hosts("PLAINTEXT://a:1, [::1]:2,b") == [("a", 1), ("::1", 2), ("b", 9092)]
    assert traces_url("http://c:4318/") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


def test_a_malformed_contract_value_variable_is_a_failed_line() -> None:
    env = {**GOOD, "ONEX_BATCH_SIZE": "lots", "ONEX_CONFIG_FILE": "/etc/omnibase/config/overlay.yaml"}
    report = check_variables(env, registry())
    failed = {r.name: r.detail for r in report.results if r.status == "fail"}
    assert list(failed) == ["ONEX_BATCH_SIZE"]
    assert "'lots' is not an integer" in failed["ONEX_BATCH_SIZE"]
    shown = {r.name: r.detail for r in report.results if r.status == "pass"}
    assert "/etc/omnibase/config/overlay.yaml" in shown["ONEX_CONFIG_FILE"]


async def test_an_otlp_endpoint_that_cannot_be_a_grpc_target_is_named_without_a_connection() -> None:
    telemetry = ModelTelemetrySettings(otlp_endpoint="ftp://collector:4317", otlp_protocol="grpc")
    (result,) = await check_otlp(telemetry, 1.0, lambda text: text)
    assert (result.status, result.detail) == (
        "fail",
        "ftp://collector:4317 (grpc): not a host:port or http(s) URL",
    )
    assert "http://collector:4317" in result.hint


async def test_no_otlp_endpoint_skips_the_probe() -> None:
    (result,) = await check_otlp(ModelTelemetrySettings(), 1.0, lambda text: text)
    assert result.status == "skip"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT not set" in result.detail


def test_otlp_headers_are_shown_hidden_and_a_bad_protocol_is_named() -> None:
    environ = {
        **GOOD,
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=hdr-s3cret",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
    }
    report = check_variables(environ, registry(), verbose=True)
    shown = {r.name: r for r in report.results}
    assert shown["OTEL_EXPORTER_OTLP_HEADERS"].detail == "set (hidden)"
    assert all("hdr-s3cret" not in r.detail + r.hint for r in report.results)
    (bad,) = failures(report.results)
    assert bad.name == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    assert "http/protobuf or grpc" in bad.detail
    assert "telemetry" in report.bad_groups
