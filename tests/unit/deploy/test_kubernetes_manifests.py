"""deploy/kubernetes: the manifests use the service's real ports, paths, variables and metrics.

- the ConfigMap plus each container's environment is a valid configuration (``load_settings``),
  every name is a variable the service reads, and every ``$(NAME)`` is defined before use;
- probes, the scrape annotation and the ServiceMonitor use paths the HTTP apps serve and
  ports the container declares, which are the ConfigMap's ports;
- every Secret reference names a Secret and key of secret.example.yaml, and each ``*_FILE``
  variable points into a mounted secret item;
- the Service is the Prometheus job monitoring/alerts.yml selects, and prometheusrule.yaml is
  exactly what render_prometheusrule.py makes of monitoring/alerts.yml.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import pytest
import yaml
from deploy_facts import (
    DEPLOY,
    HELPER_VARIABLES,
    KUBERNETES,
    MONITORING,
    cli_accepts,
    dockerfile_instructions,
    expand_references,
    postgres_from,
    secret_file_variables,
    settings_from,
    stages,
    yaml_documents,
)
from service_facts import (
    METRIC_NAME,
    environment_variables,
    exported_metric_names,
    health_routes,
    metrics_routes,
    shipped_contracts,
)

from omnibase_infra.environment import parse_environment

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def resources() -> dict[str, Resource]:
    """Every resource of kustomization.yaml, by ``Kind/name``."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    found: dict[str, Resource] = {}
    for file_name in kustomization["resources"]:
        for document in yaml_documents(KUBERNETES / file_name):
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


@pytest.fixture(scope="module")
def secrets() -> dict[str, set[str]]:
    """Secret name -> keys, from the example (not applied)."""
    return {
        doc["metadata"]["name"]: set(doc["stringData"])
        for doc in yaml_documents(KUBERNETES / "secret.example.yaml")
        if doc["kind"] == "Secret"
    }


def _kind(resources: dict[str, Resource], kind: str) -> Resource:
    (found,) = [r for key, r in resources.items() if key.startswith(f"{kind}/")]
    return found


def _pod_spec(workload: Resource) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _container(workload: Resource) -> dict[str, Any]:
    (container,) = _pod_spec(workload)["containers"]
    return container  # type: ignore[no-any-return]


SETTINGS_CONFIGMAP = "ConfigMap/omnibase-infrastructure"
"""The ConfigMap of variables (envFrom); the others hold files (overlay, extra contracts)."""


def _configmap(resources: dict[str, Resource]) -> dict[str, str]:
    return {k: str(v) for k, v in resources[SETTINGS_CONFIGMAP]["data"].items()}


def _environment(resources: dict[str, Resource], workload: Resource) -> dict[str, str]:
    """The container's environment as Kubernetes builds it (envFrom, then env in order)."""
    container = _container(workload)
    environ: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert f"ConfigMap/{source['configMapRef']['name']}" == SETTINGS_CONFIGMAP
        environ.update(_configmap(resources))
    for entry in container.get("env", []):
        if "value" in entry:
            for reference in re.findall(r"\$\((\w+)\)", entry["value"]):
                assert reference in environ, f"$({reference}) is used before it is defined"
            environ[entry["name"]] = expand_references(entry["value"], environ)
        else:
            environ[entry["name"]] = f"<{entry['name']} from {next(iter(entry['valueFrom']))}>"
    return environ


def _workloads(resources: dict[str, Resource]) -> list[Resource]:
    return [_kind(resources, "Deployment"), _kind(resources, "Job")]


def test_manifests_are_the_expected_resources(resources: dict[str, Resource]) -> None:
    kinds = sorted(key.split("/")[0] for key in resources)
    assert kinds == [
        "ConfigMap",
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "Job",
        "PrometheusRule",
        "Service",
        "ServiceMonitor",
    ]


def test_every_variable_is_one_the_service_reads(resources: dict[str, Resource]) -> None:
    known = environment_variables() | HELPER_VARIABLES
    assert set(_configmap(resources)) <= environment_variables()
    for workload in _workloads(resources):
        names = {entry["name"] for entry in _container(workload).get("env", [])}
        assert names <= known, f"{workload['kind']}: unknown {names - known}"


def test_each_container_environment_is_a_valid_configuration(resources: dict[str, Resource]) -> None:
    for workload in _workloads(resources):
        environ = {k: v for k, v in _environment(resources, workload).items() if k not in HELPER_VARIABLES}
        if workload["kind"] == "Job":  # `db migrate` reads the POSTGRES_* variables only
            assert postgres_from(environ).user
            continue
        settings = settings_from(environ)
        assert settings.environment == parse_environment(_configmap(resources)["ENVIRONMENT"])


def test_commands_are_run_and_db_migrate(resources: dict[str, Resource]) -> None:
    assert _container(_kind(resources, "Deployment"))["args"] == ["run"]
    assert _container(_kind(resources, "Job"))["args"] == ["db", "migrate"]
    for workload in _workloads(resources):
        assert cli_accepts(_container(workload)["args"])


def test_ports_probes_and_scrape_annotations(resources: dict[str, Resource]) -> None:
    deployment = _kind(resources, "Deployment")
    container = _container(deployment)
    config = _configmap(resources)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {
        "health": int(config["HEALTH_CHECK_PORT"]),
        "metrics": int(config["PROMETHEUS_METRICS_PORT"]),
    }
    expected = {"livenessProbe": "/live", "readinessProbe": "/ready", "startupProbe": "/health"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path and path in health_routes(), probe
        assert get["port"] in ports, probe
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]
    assert annotations["prometheus.io/path"] in metrics_routes()


def test_seed_probe_timings_and_resources(resources: dict[str, Resource]) -> None:
    container = _container(_kind(resources, "Deployment"))
    assert container["livenessProbe"]["initialDelaySeconds"] == 30
    assert container["livenessProbe"]["periodSeconds"] == 30
    assert container["readinessProbe"]["initialDelaySeconds"] == 5
    assert container["readinessProbe"]["periodSeconds"] == 10
    assert container["resources"] == {
        "requests": {"memory": "256Mi", "cpu": "100m"},
        "limits": {"memory": "512Mi", "cpu": "500m"},
    }
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] > 120, "covers ONEX_STARTUP_TIMEOUT"


def test_grace_period_exceeds_the_contract_shutdown_grace(resources: dict[str, Resource]) -> None:
    (orchestrator,) = [p for p in shipped_contracts() if p.parts[-3] == "infrastructure_orchestrator"]
    runtime = yaml.safe_load(orchestrator.read_text())["environment_config"]["workflow_runtime"]
    environment = parse_environment(_configmap(resources)["ENVIRONMENT"]).value
    grace = _pod_spec(_kind(resources, "Deployment"))["terminationGracePeriodSeconds"]
    assert grace > runtime[environment]["shutdown_grace_seconds"]


def test_pods_run_as_the_image_user_without_privileges(resources: dict[str, Resource]) -> None:
    runtime_stage = stages(dockerfile_instructions(DEPLOY / "Dockerfile"))[-1]
    (user,) = [i.argument.split(":")[0] for i in runtime_stage if i.keyword == "USER"]
    for workload in _workloads(resources):
        pod = _pod_spec(workload)["securityContext"]
        assert pod["runAsNonRoot"] is True and str(pod["runAsUser"]) == user
        container = _container(workload)["securityContext"]
        assert container["allowPrivilegeEscalation"] is False
        assert container["readOnlyRootFilesystem"] is True
        assert container["capabilities"]["drop"] == ["ALL"]


def test_secret_references_exist_and_files_are_mounted(
    resources: dict[str, Resource], secrets: dict[str, set[str]]
) -> None:
    for workload in _workloads(resources):
        container = _container(workload)
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]], f"{entry['name']}: {ref}"
        volumes = {v["name"]: v for v in _pod_spec(workload)["volumes"]}
        mounted: dict[str, str] = {}
        for mount in container["volumeMounts"]:
            secret = volumes[mount["name"]].get("secret")
            if secret is None:
                continue
            for item in secret["items"]:
                assert item["key"] in secrets[secret["secretName"]], f"{secret['secretName']}: {item['key']}"
                mounted[f"{mount['mountPath']}/{item['path']}"] = secret["secretName"]
        environ = _environment(resources, workload)
        relevant = {k: v for k, v in environ.items() if k not in HELPER_VARIABLES}
        read_files = secret_file_variables() | {
            "POSTGRES_SSL_CA_FILE",
            "POSTGRES_SSL_CERT_FILE",
            "POSTGRES_SSL_KEY_FILE",
        }
        if workload["kind"] == "Job":
            postgres_from(relevant)
        elif settings_from(relevant).kafka_security.security_protocol.endswith("SSL"):
            read_files |= {"KAFKA_SSL_CA_FILE", "KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE"}
        for name, value in environ.items():
            if name in read_files:
                assert value in mounted, f"{workload['kind']}: {name}={value} is not a mounted secret item"


def test_service_selects_the_pods_and_is_the_alerting_job(resources: dict[str, Resource]) -> None:
    service = _kind(resources, "Service")
    pod_labels = _kind(resources, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"] for p in _container(_kind(resources, "Deployment"))["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    alerts = (MONITORING / "alerts.yml").read_text(encoding="utf-8")
    jobs = set(re.findall(r'job="([^"]+)"', alerts))
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"][0]["job_name"]
    assert jobs == {service["metadata"]["name"]} == {scrape}


def test_servicemonitor_scrapes_the_metrics_port(resources: dict[str, Resource]) -> None:
    monitor = _kind(resources, "ServiceMonitor")
    service = _kind(resources, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] in metrics_routes()
    assert "jobLabel" not in monitor["spec"], "the job must stay the Service name"


def _renderer() -> Any:
    spec = importlib.util.spec_from_file_location(
        "render_prometheusrule", KUBERNETES / "render_prometheusrule.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prometheusrule_is_rendered_from_monitoring_alerts() -> None:
    alerts_text = (MONITORING / "alerts.yml").read_text(encoding="utf-8")
    rendered = _renderer().render(alerts_text)
    shipped = (KUBERNETES / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert shipped == rendered, "run: .venv/bin/python deploy/kubernetes/render_prometheusrule.py"
    assert yaml.safe_load(shipped)["spec"]["groups"] == yaml.safe_load(alerts_text)["groups"]


def test_prometheusrule_metrics_are_exported(resources: dict[str, Resource]) -> None:
    rule = _kind(resources, "PrometheusRule")
    expressions = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    named = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    assert named and named <= exported_metric_names()


def test_environment_of_the_configmap_is_recognised(resources: dict[str, Resource]) -> None:
    parse_environment(_configmap(resources)["ENVIRONMENT"])


def test_kustomization_lists_every_manifest_but_the_example() -> None:
    listed = set(yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk
