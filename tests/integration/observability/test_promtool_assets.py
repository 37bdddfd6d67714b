"""The monitoring assets pass promtool: rule syntax, configuration, and the alerts' unit tests.

promtool comes from Debian's prometheus package, installed by ``scripts/install-prometheus``
(which ``scripts/test`` runs). A missing promtool fails these tests; it never skips them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MONITORING = Path(__file__).resolve().parents[3] / "monitoring"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run scripts/install-prometheus", pytrace=False)
    return path


def run_promtool(*args: str) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=MONITORING, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def test_alert_rules_are_valid() -> None:
    assert "SUCCESS" in run_promtool("check", "rules", "alerts.yml")


def test_prometheus_configuration_is_valid() -> None:
    assert "SUCCESS" in run_promtool("check", "config", "prometheus.yml")


def test_every_alert_has_a_passing_unit_test() -> None:
    import yaml

    alerts = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    names = {rule["alert"] for group in alerts["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert names == tested, f"alerts without a firing test: {sorted(names - tested)}"
    assert {
        "InfrastructureDown",
        "InfrastructureUnhealthy",
        "HighErrorRate",
        "HighDatabaseConnections",
        "DatabaseConnectionPoolExhausted",
        "CircuitBreakerOpen",
        "DeadLetterQueueGrowing",
    } <= names
    assert "SUCCESS" in run_promtool("test", "rules", "alerts_test.yml")


def test_kubernetes_prometheus_configuration_is_valid(tmp_path: Path) -> None:
    """monitoring/kubernetes/prometheus.yml as mounted by monitoring/kustomization.yaml: the
    configuration beside ``rules/alerts.yml`` (the ConfigMap prometheus-rules).

    Debian's promtool is built without Kubernetes service discovery, so the
    ``kubernetes_sd_configs`` block is replaced by a static target here (everything else,
    relabelling and alerting included, is checked as written); tests/unit/deploy checks the
    discovery block itself.
    """
    import yaml

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "alerts.yml").write_text((MONITORING / "alerts.yml").read_text())
    config = yaml.safe_load((MONITORING / "kubernetes" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job.pop("kubernetes_sd_configs")
    job["static_configs"] = [{"targets": ["127.0.0.1:9090"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    assert "SUCCESS" in run_promtool("check", "config", str(tmp_path / "prometheus.yml"))
