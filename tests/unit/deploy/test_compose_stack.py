"""deploy/docker-compose.infrastructure.yml is wired to the service's real ports and variables.

The seed's stack (service, PostgreSQL, Redpanda, Jaeger, Prometheus, Grafana) plus a one-shot
`db migrate`: the service's environment is a valid configuration (``load_settings`` accepts
it), every host and port it names is a service and port of the stack, the Prometheus and
Grafana files it mounts exist and point back at the service and at each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_facts import DEPLOY, MONITORING, cli_accepts, settings_from
from service_facts import environment_variables, health_routes, metrics_routes

COMPOSE = DEPLOY / "docker-compose.infrastructure.yml"
SERVICE = "omnibase-infra"
OTLP_HTTP_PORT = 4318


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1]) for p in service.get("ports", [])}


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path (relative to the compose file) of each bind mount."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("."):
            mounts[target] = (DEPLOY / source).resolve()
    return mounts


def test_the_seed_stack_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert {SERVICE, "migrate", "postgres", "redpanda", "jaeger", "prometheus", "grafana"} <= set(services)


def test_service_environment_is_a_valid_configuration(services: dict[str, dict[str, Any]]) -> None:
    for name in (SERVICE, "migrate"):
        env = _env(services[name])
        assert set(env) <= environment_variables(), (
            f"{name}: unknown variables {set(env) - environment_variables()}"
        )
        settings = settings_from(env)
        assert settings.postgres.host == "postgres"


def test_service_ports_and_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    service = services[SERVICE]
    env = _env(service)
    health_port = int(env["HEALTH_CHECK_PORT"])
    assert health_port in _container_ports(service)
    test = " ".join(service["healthcheck"]["test"])
    assert f"127.0.0.1:{health_port}/health'" in test
    assert "/health" in health_routes()


def test_migrate_runs_db_migrate_before_the_service(services: dict[str, dict[str, Any]]) -> None:
    command = services["migrate"]["command"]
    assert command == ["db", "migrate"] and cli_accepts(command)
    depends = services[SERVICE]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["build"] == services[SERVICE]["build"]
    assert (
        DEPLOY / services[SERVICE]["build"]["context"] / services[SERVICE]["build"]["dockerfile"]
    ).exists()


def test_database_settings_match_the_postgres_service(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    env = _env(services[SERVICE])
    postgres = _env(services["postgres"])
    assert env["POSTGRES_HOST"] == "postgres" and env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_DATABASE"] == postgres["POSTGRES_DB"]
    assert env["POSTGRES_USER"] == postgres["POSTGRES_USER"]
    assert env["POSTGRES_PASSWORD_FILE"] == postgres["POSTGRES_PASSWORD_FILE"]
    secret = env["POSTGRES_PASSWORD_FILE"].rsplit("/", 1)[1]
    assert secret in services[SERVICE]["secrets"] and secret in services["postgres"]["secrets"]
    assert (DEPLOY / compose["secrets"][secret]["file"]).is_file()


def test_kafka_settings_match_the_redpanda_listener(services: dict[str, dict[str, Any]]) -> None:
    host, port = _env(services[SERVICE])["KAFKA_BOOTSTRAP_SERVERS"].split(":")
    command = services["redpanda"]["command"]
    advertised = command[command.index("--advertise-kafka-addr") + 1]
    assert f"internal://{host}:{port}" in advertised.split(",")
    assert host == "redpanda"
    assert f"0.0.0.0:{port}" in command[command.index("--kafka-addr") + 1]


def test_traces_go_to_jaeger_over_otlp_http(services: dict[str, dict[str, Any]]) -> None:
    endpoint = urlsplit(_env(services[SERVICE])["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname == "jaeger" and endpoint.port == OTLP_HTTP_PORT
    assert OTLP_HTTP_PORT in _container_ports(services["jaeger"])
    assert _env(services["jaeger"]).get("COLLECTOR_OTLP_ENABLED") == "true"


def test_prometheus_scrapes_the_service_with_the_monitoring_rules(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = _mounts(services["prometheus"])
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for rule_file in config["rule_files"]:
        assert mounts[f"/etc/prometheus/{rule_file}"] == (MONITORING / rule_file).resolve()
    (job,) = config["scrape_configs"]
    (target,) = job["static_configs"][0]["targets"]
    metrics_port = _env(services[SERVICE])["PROMETHEUS_METRICS_PORT"]
    assert target == f"{SERVICE}:{metrics_port}"
    assert job["metrics_path"] in metrics_routes()


def test_compose_prometheus_config_is_monitorings_apart_from_the_target() -> None:
    shipped = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    compose_copy = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    for config in (shipped, compose_copy):
        for job in config["scrape_configs"]:
            for static in job["static_configs"]:
                static["targets"] = ["<target>"]
    assert compose_copy == shipped


def test_grafana_loads_the_dashboard_from_the_compose_prometheus(services: dict[str, dict[str, Any]]) -> None:
    mounts = _mounts(services["grafana"])
    provisioning = mounts["/etc/grafana/provisioning"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "omnibase.yml").read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "omnibase-infrastructure.json").is_file()
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    url = urlsplit(datasource["url"])
    assert url.hostname == "prometheus" and url.port in _container_ports(services["prometheus"])
    assert datasource["type"] == "prometheus"


def test_every_bind_mount_exists(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, source in _mounts(service).items():
            assert source.exists(), f"{name}: {source} (for {target}) does not exist"
