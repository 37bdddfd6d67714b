"""deploy/kubernetes: the overlay and the extra contracts reach the pod, and are valid.

The Deployment mounts ``omnibase-infrastructure-overlay`` where ``ONEX_CONFIG_FILE`` points and
``omnibase-infrastructure-contracts`` at ``ONEX_CONTRACTS_PATH``. Written out as the kubelet
would, the files pass the startup validation for the ConfigMap's environment; the overlay
changes what it says it changes; the shutdown grace in force stays below the pod's
``terminationGracePeriodSeconds``; and the extra contracts are the operation Step 6 of the
migration guide calls (docs/examples/orders-operations.yaml).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from deploy_facts import KUBERNETES, yaml_documents
from doc_blocks import DOCS

from omnibase_infra.contract_validation.effective_config import resolve_configuration
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import parse_environment

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def resources() -> dict[str, Resource]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    found: dict[str, Resource] = {}
    for file_name in kustomization["resources"]:
        for document in yaml_documents(KUBERNETES / file_name):
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


def _deployment(resources: dict[str, Resource]) -> Resource:
    return resources["Deployment/omnibase-infrastructure"]


def _env(resources: dict[str, Resource]) -> dict[str, str]:
    (container,) = _deployment(resources)["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _mounted_files(resources: dict[str, Resource], tmp_path: Path) -> dict[str, Path]:
    """Each ConfigMap-backed file of the container, by its path in the pod, written under tmp_path."""
    pod = _deployment(resources)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    files: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        config_map = volumes[mount["name"]].get("configMap")
        if config_map is None:
            continue
        assert mount.get("readOnly") is True
        data = resources[f"ConfigMap/{config_map['name']}"]["data"]
        for key, text in data.items():
            in_pod = str(PurePosixPath(mount["mountPath"]) / key)
            local = tmp_path / in_pod.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(text, encoding="utf-8")
            files[in_pod] = local
    return files


def test_onex_config_file_and_contracts_path_point_into_configmap_mounts(
    resources: dict[str, Resource], tmp_path: Path
) -> None:
    env = _env(resources)
    files = _mounted_files(resources, tmp_path)
    assert env["ONEX_CONFIG_FILE"] in files
    contracts_dir = PurePosixPath(env["ONEX_CONTRACTS_PATH"])
    assert [p for p in files if PurePosixPath(p).parent == contracts_dir]


def test_mounted_overlay_and_contracts_pass_startup_validation(
    resources: dict[str, Resource], tmp_path: Path
) -> None:
    env = _env(resources)
    files = _mounted_files(resources, tmp_path)
    environment = parse_environment(resources["ConfigMap/omnibase-infrastructure"]["data"]["ENVIRONMENT"])
    contracts = load_contract_set([tmp_path / env["ONEX_CONTRACTS_PATH"].lstrip("/")], validate_core=False)
    effective = resolve_configuration(contracts, environment, overlay_file=files[env["ONEX_CONFIG_FILE"]])
    overlaid = [v for v in effective.values if v.source.kind == "overlay"]
    assert overlaid, "the shipped overlay changes nothing"
    for value in overlaid:
        written = getattr(
            getattr(contracts.node(value.node).environment_config, value.section), environment.value
        )
        assert getattr(written, value.key) != value.value, f"{value.key_path} repeats the contract"
    grace = effective.value("infrastructure_orchestrator", "workflow_runtime", "shutdown_grace_seconds")
    assert _deployment(resources)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > int(
        str(grace.value)
    )


def test_extra_contracts_are_the_operation_of_migration_step_6(resources: dict[str, Resource]) -> None:
    data = resources["ConfigMap/omnibase-infrastructure-contracts"]["data"]
    example = yaml.safe_load((DOCS / "examples" / "orders-operations.yaml").read_text(encoding="utf-8"))
    assert yaml.safe_load(data["orders-operations.yaml"]) == example
    guide = (DOCS / "migration-guide.md").read_text(encoding="utf-8")
    (operation,) = example["operations"]
    assert operation["name"] in guide
