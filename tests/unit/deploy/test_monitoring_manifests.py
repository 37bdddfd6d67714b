"""monitoring/kustomization.yaml: Prometheus, Grafana and Alertmanager on Kubernetes.

- every manifest and generated file parses; the kustomization lists every manifest;
- the rule file is monitoring/alerts.yml itself (the file alerts_test.yml tests with promtool),
  the dashboard is monitoring/grafana/omnibase-infrastructure.json itself (generators, no copy);
- Prometheus's configuration is monitoring/prometheus.yml apart from service discovery, and
  it keeps exactly the service's pods (base and both colours) on the container port that is
  PROMETHEUS_METRICS_PORT, at a path the metrics app serves;
- each Deployment's selector matches its pods, each Service selects a Deployment's pods on a
  declared port, and every mounted ConfigMap is generated; the paths the programs read are
  where those ConfigMaps are mounted;
- Alertmanager routes every severity monitoring/alerts.yml uses to a receiver it declares.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_facts import (
    BLUE_GREEN,
    COLOURS,
    DEPLOY,
    KUBERNETES,
    MONITORING,
    MONITORING_KUBERNETES,
    kustomization,
    kustomize_build,
    kustomize_resources,
    render_overlay,
    yaml_documents,
)
from service_facts import metrics_routes

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return kustomization(MONITORING)


@pytest.fixture(scope="module")
def resources() -> dict[str, Resource]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in kustomize_resources(MONITORING)}


def _generated(spec: dict[str, Any]) -> dict[str, dict[str, Path]]:
    """ConfigMap name -> key -> source file, from the configMapGenerator."""
    found: dict[str, dict[str, Path]] = {}
    for generator in spec["configMapGenerator"]:
        files: dict[str, Path] = {}
        for entry in generator["files"]:
            key, _, source = entry.rpartition("=") if "=" in entry else (Path(entry).name, "", entry)
            files[key] = MONITORING / source
        found[generator["name"]] = files
    return found


def _generated_text(spec: dict[str, Any], configmap: str, key: str) -> str:
    return _generated(spec)[configmap][key].read_text(encoding="utf-8")


def _deployment(resources: dict[str, Resource], name: str) -> Resource:
    return resources[f"Deployment/{name}"]


def _container(deployment: Resource) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _mounts(deployment: Resource) -> dict[str, tuple[str, dict[str, Any]]]:
    """Mount path -> (ConfigMap or Secret name, volume) of the container."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for mount in _container(deployment)["volumeMounts"]:
        volume = volumes[mount["name"]]
        source = volume.get("configMap", {}).get("name") or volume.get("secret", {}).get("secretName") or ""
        found[mount["mountPath"]] = (source, volume)
    return found


def _file_in(deployment: Resource, path: str) -> tuple[str, str]:
    """(ConfigMap, key) that provides the file ``path`` inside the container."""
    for mount_path, (source, volume) in _mounts(deployment).items():
        if not path.startswith(mount_path + "/"):
            continue
        relative = path[len(mount_path) + 1 :]
        items = volume.get("configMap", {}).get("items")
        if items is None and "/" not in relative:
            return source, relative
        for item in items or []:
            if item["path"] == relative:
                return source, item["key"]
    raise AssertionError(f"{path} is not provided by a mounted ConfigMap")


def _argument(deployment: Resource, flag: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in _container(deployment)["args"] if a.startswith(f"{flag}=")]
    return value


def test_every_manifest_parses_and_is_listed(spec: dict[str, Any]) -> None:
    listed = {Path(entry).name for entry in spec["resources"]}
    assert listed == {p.name for p in MONITORING_KUBERNETES.glob("*.yaml")}
    for path in MONITORING_KUBERNETES.glob("*.y*ml"):
        assert yaml_documents(path), path
    for files in _generated(spec).values():
        for source in files.values():
            text = source.read_text(encoding="utf-8")
            assert yaml.safe_load(text) is not None, source  # JSON is YAML too


def test_the_guides_three_manifests_are_there(resources: dict[str, Resource]) -> None:
    assert {"Deployment/prometheus", "Deployment/grafana", "Deployment/alertmanager"} <= set(resources)
    assert {"Service/prometheus", "Service/grafana", "Service/alertmanager"} <= set(resources)


def test_the_rule_file_is_the_one_promtool_tests(
    spec: dict[str, Any], resources: dict[str, Resource]
) -> None:
    assert _generated(spec)["prometheus-rules"] == {"alerts.yml": MONITORING / "alerts.yml"}
    tested = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())["rule_files"]
    assert tested == ["alerts.yml"]
    prometheus = _deployment(resources, "prometheus")
    config_file = _argument(prometheus, "--config.file")
    assert _file_in(prometheus, config_file) == ("prometheus-config", "prometheus.yml")
    config = yaml.safe_load(_generated_text(spec, "prometheus-config", "prometheus.yml"))
    (rules,) = config["rule_files"]
    assert _file_in(prometheus, str(Path(config_file).parent / rules)) == ("prometheus-rules", "alerts.yml")


def test_the_dashboard_is_the_repositorys(spec: dict[str, Any], resources: dict[str, Resource]) -> None:
    dashboards = _generated(spec)["grafana-dashboards"]
    assert list(dashboards.values()) == sorted((MONITORING / "grafana").glob("*.json"))
    grafana = _deployment(resources, "grafana")
    provisioning = yaml.safe_load(_generated_text(spec, "grafana-provisioning", "dashboards.yml"))
    (provider,) = provisioning["providers"]
    folder = provider["options"]["path"]
    for key in dashboards:
        assert _file_in(grafana, f"{folder}/{key}") == ("grafana-dashboards", key)
    for kind in ("datasources", "dashboards"):
        assert _file_in(grafana, f"/etc/grafana/provisioning/{kind}/{kind}.yml") == (
            "grafana-provisioning",
            f"{kind}.yml",
        )


def test_grafana_reads_the_prometheus_service(spec: dict[str, Any], resources: dict[str, Resource]) -> None:
    (datasource,) = yaml.safe_load(_generated_text(spec, "grafana-provisioning", "datasources.yml"))[
        "datasources"
    ]
    service = resources["Service/prometheus"]
    (port,) = service["spec"]["ports"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == f"http://{service['metadata']['name']}:{port['port']}"


def _scrape(spec: dict[str, Any]) -> dict[str, Any]:
    config = yaml.safe_load(_generated_text(spec, "prometheus-config", "prometheus.yml"))
    (job,) = config["scrape_configs"]
    return job  # type: ignore[no-any-return]


def test_prometheus_configuration_is_monitorings_apart_from_discovery(spec: dict[str, Any]) -> None:
    cluster = yaml.safe_load(_generated_text(spec, "prometheus-config", "prometheus.yml"))
    local = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert cluster["global"] == local["global"]
    assert [Path(p).name for p in cluster["rule_files"]] == local["rule_files"]
    (local_job,) = local["scrape_configs"]
    cluster_job = {
        k: v for k, v in _scrape(spec).items() if k not in {"kubernetes_sd_configs", "relabel_configs"}
    }
    assert cluster_job == {k: v for k, v in local_job.items() if k != "static_configs"}


def _keeps(job: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether the ``keep`` relabel rules let a target with these meta labels through."""
    for rule in job["relabel_configs"]:
        if rule.get("action") != "keep":
            continue
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule["source_labels"])
        if not re.fullmatch(rule["regex"], value):
            return False
    return True


def _meta(pod_labels: dict[str, str], port_name: str) -> dict[str, str]:
    meta = {
        "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v for k, v in pod_labels.items()
    }
    meta["__meta_kubernetes_pod_container_port_name"] = port_name
    return meta


def test_scrape_keeps_the_service_pods_on_the_metrics_port(spec: dict[str, Any]) -> None:
    job = _scrape(spec)
    assert job["metrics_path"] in metrics_routes()
    (discovery,) = job["kubernetes_sd_configs"]
    assert discovery["role"] == "pod"
    assert discovery["namespaces"]["names"] == [kustomization(KUBERNETES)["namespace"]]
    base = kustomize_resources(KUBERNETES)
    configmap = next(d for d in base if d["kind"] == "ConfigMap")
    deployments = [next(d for d in base if d["kind"] == "Deployment")]
    deployments += [
        next(d for d in render_overlay(BLUE_GREEN / c) if d["kind"] == "Deployment") for c in COLOURS
    ]
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        pods = deployment["spec"]["template"]["metadata"]["labels"]
        kept = [name for name in ports if _keeps(job, _meta(pods, name))]
        assert kept == ["metrics"], deployment["metadata"]["name"]
        assert ports["metrics"] == int(configmap["data"]["PROMETHEUS_METRICS_PORT"])
    added = {r["target_label"] for r in job["relabel_configs"] if "target_label" in r}
    assert added == {"namespace", "pod", "version"}
    job_pod = next(d for d in base if d["kind"] == "Job")["spec"]["template"]["metadata"]["labels"]
    assert not _keeps(job, _meta(job_pod, "metrics")), "the migration Job is not a scrape target"


def test_selectors_match_pods_and_services_target_declared_ports(resources: dict[str, Resource]) -> None:
    deployments = [r for r in resources.values() if r["kind"] == "Deployment"]
    for deployment in deployments:
        pods = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pods.items()
    for service in (r for r in resources.values() if r["kind"] == "Service"):
        (selected,) = [
            d
            for d in deployments
            if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        names = {p["name"] for p in _container(selected)["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= names, service["metadata"]["name"]
        probes = [_container(selected).get(p, {}) for p in ("readinessProbe", "livenessProbe")]
        assert all(p["httpGet"]["port"] in names for p in probes if p)


def test_every_mounted_configmap_is_generated(spec: dict[str, Any], resources: dict[str, Resource]) -> None:
    generated = _generated(spec)
    for deployment in (r for r in resources.values() if r["kind"] == "Deployment"):
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "configMap" in volume:
                name = volume["configMap"]["name"]
                assert name in generated, f"{deployment['metadata']['name']}: {name}"
                for item in volume["configMap"].get("items", []):
                    assert item["key"] in generated[name]


def test_prometheus_may_list_pods_of_the_service_namespace(
    resources: dict[str, Resource], spec: dict[str, Any]
) -> None:
    (binding,) = [r for r in resources.values() if r["kind"] == "ClusterRoleBinding"]
    (subject,) = binding["subjects"]
    assert subject["namespace"] == spec["namespace"]
    assert (
        _deployment(resources, "prometheus")["spec"]["template"]["spec"]["serviceAccountName"]
        == subject["name"]
    )
    role = resources[f"ClusterRole/{binding['roleRef']['name']}"]
    assert any("pods" in rule["resources"] and "list" in rule["verbs"] for rule in role["rules"])


def test_alerts_go_to_the_alertmanager_service(spec: dict[str, Any], resources: dict[str, Resource]) -> None:
    config = yaml.safe_load(_generated_text(spec, "prometheus-config", "prometheus.yml"))
    (manager,) = config["alerting"]["alertmanagers"]
    service = resources["Service/alertmanager"]
    (port,) = service["spec"]["ports"]
    assert manager["static_configs"] == [{"targets": [f"{service['metadata']['name']}:{port['port']}"]}]
    alertmanager = _deployment(resources, "alertmanager")
    assert _file_in(alertmanager, _argument(alertmanager, "--config.file")) == (
        "alertmanager-config",
        "alertmanager.yml",
    )


def test_every_severity_is_routed_to_a_declared_receiver(spec: dict[str, Any]) -> None:
    config = yaml.safe_load(_generated_text(spec, "alertmanager-config", "alertmanager.yml"))
    receivers = {r["name"] for r in config["receivers"]}
    route = config["route"]
    assert route["receiver"] in receivers
    routed = {}
    for child in route["routes"]:
        assert child["receiver"] in receivers
        for matcher in child["matchers"]:
            name, value = re.fullmatch(r'(\w+)="([^"]*)"', matcher).groups()  # type: ignore[union-attr]
            if name == "severity":
                routed[value] = child["receiver"]
    alerts = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    severities = {rule["labels"]["severity"] for group in alerts["groups"] for rule in group["rules"]}
    assert severities == set(routed) == {"critical", "warning"}
    assert routed["critical"] != routed["warning"]
    (inhibit,) = config["inhibit_rules"]
    assert (inhibit["source_matchers"], inhibit["target_matchers"]) == (
        ['severity="critical"'],
        ['severity="warning"'],
    )
    assert inhibit["equal"] == ["environment"]


def test_real_kustomize_generates_the_configmaps_from_the_files(spec: dict[str, Any]) -> None:
    rendered = kustomize_build(MONITORING)
    configmaps = {d["metadata"]["name"].rsplit("-", 1)[0]: d for d in rendered if d["kind"] == "ConfigMap"}
    for name, files in _generated(spec).items():
        assert configmaps[name]["data"] == {
            key: path.read_text(encoding="utf-8") for key, path in files.items()
        }
        assert configmaps[name]["metadata"]["namespace"] == spec["namespace"]
    mounted = {
        volume["configMap"]["name"]
        for d in rendered
        if d["kind"] == "Deployment"
        for volume in d["spec"]["template"]["spec"]["volumes"]
        if "configMap" in volume
    }
    assert mounted == {d["metadata"]["name"] for d in configmaps.values()}, "hashed names are referenced"


def test_grafana_provisioning_equals_the_compose_stacks(spec: dict[str, Any]) -> None:
    """Both stacks name their Prometheus service `prometheus:9090` and mount the dashboards at
    the same path, so the two provisioning files say the same (kept equal here)."""
    compose = DEPLOY / "grafana" / "provisioning"
    for key, compose_file in (
        ("datasources.yml", compose / "datasources" / "prometheus.yml"),
        ("dashboards.yml", compose / "dashboards" / "omnibase.yml"),
    ):
        cluster = yaml.safe_load(_generated_text(spec, "grafana-provisioning", key))
        assert cluster == yaml.safe_load(compose_file.read_text(encoding="utf-8")), key
