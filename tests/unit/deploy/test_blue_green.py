"""deploy/blue-green: each colour is the base with a ``version``-labelled Deployment and a Service
selecting that colour only.

The overlays are rendered here by applying their JSON 6902 patches to the base's documents
(``deploy_facts.render_overlay``, which refuses any other kustomize feature); when a
``kustomize`` or ``kubectl`` binary is installed the real rendering must agree.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from deploy_facts import BLUE_GREEN, COLOURS, KUBERNETES, kustomize_build, kustomize_resources, render_overlay

Resource = dict[str, Any]
BASE_NAME = "omnibase-infrastructure"


def _one(documents: list[Resource], kind: str) -> Resource:
    (found,) = [d for d in documents if d["kind"] == kind]
    return found


def _pod_labels(deployment: Resource) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Resource]]:
    return {colour: render_overlay(BLUE_GREEN / colour) for colour in COLOURS}


def test_each_colour_is_the_base_plus_its_patches() -> None:
    def neutral(colour: str) -> object:
        text = (BLUE_GREEN / colour / "kustomization.yaml").read_text(encoding="utf-8")
        return yaml.safe_load(text.replace(colour, "COLOUR"))  # comments drop out

    for colour in COLOURS:
        spec = yaml.safe_load((BLUE_GREEN / colour / "kustomization.yaml").read_text(encoding="utf-8"))
        assert spec["resources"] == ["../../kubernetes"]
        assert neutral(colour) == neutral(COLOURS[0]), "the colours differ only in their name"


def test_deployment_carries_its_colour_on_pods_selector_and_itself(
    rendered: dict[str, list[Resource]],
) -> None:
    for colour, documents in rendered.items():
        deployment = _one(documents, "Deployment")
        assert deployment["metadata"]["name"] == f"{BASE_NAME}-{colour}"
        assert deployment["metadata"]["labels"]["version"] == colour
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["version"] == colour
        assert selector.items() <= _pod_labels(deployment).items()
        assert _pod_labels(deployment)["version"] == colour


def test_service_selects_its_colour_only(rendered: dict[str, list[Resource]]) -> None:
    for colour, documents in rendered.items():
        service = _one(documents, "Service")
        assert service["metadata"]["name"] == BASE_NAME, "one Service, whose selector switches"
        assert "version" not in service["metadata"].get("labels", {}), "-l version=X must not apply it"
        for other, other_documents in rendered.items():
            selected = (
                service["spec"]["selector"].items()
                <= _pod_labels(_one(other_documents, "Deployment")).items()
            )
            assert selected == (other == colour), f"{colour} Service vs {other} pods"


def test_only_the_deployment_carries_the_version_label(rendered: dict[str, list[Resource]]) -> None:
    """``kubectl apply -k ... -l version=COLOUR`` applies the colour's Deployment and nothing else."""
    for colour, documents in rendered.items():
        labelled = [d["kind"] for d in documents if d["metadata"].get("labels", {}).get("version") == colour]
        assert labelled == ["Deployment"]


def test_everything_but_the_deployment_and_the_service_selector_is_the_base(
    rendered: dict[str, list[Resource]],
) -> None:
    base = {f"{d['kind']}/{d['metadata']['name']}": d for d in kustomize_resources(KUBERNETES)}
    for documents in rendered.values():
        for document in documents:
            key = f"{document['kind']}/{document['metadata']['name']}"
            if document["kind"] == "Deployment":
                base_pods = _pod_labels(base[f"Deployment/{BASE_NAME}"])
                assert {k: v for k, v in _pod_labels(document).items() if k != "version"} == base_pods
            elif document["kind"] == "Service":
                assert document["spec"]["ports"] == base[key]["spec"]["ports"]
            else:
                assert document == base[key], key


def test_real_kustomize_renders_the_same_labels_and_selectors(rendered: dict[str, list[Resource]]) -> None:
    for colour, documents in rendered.items():
        real = kustomize_build(BLUE_GREEN / colour)
        for kind in ("Deployment", "Service"):
            mine, theirs = _one(documents, kind), _one(real, kind)
            assert theirs["metadata"]["name"] == mine["metadata"]["name"]
            assert theirs["spec"]["selector"] == mine["spec"]["selector"]
        assert _pod_labels(_one(real, "Deployment"))["version"] == colour
