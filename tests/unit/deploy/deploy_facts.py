"""Readers for the deployment assets: Dockerfile instructions, YAML documents, environments.

Shared by the tests of this folder; nothing here builds or applies anything.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from service_facts import REPO_ROOT, read_variables

from omnibase_infra.cli.main import build_parser
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig
from omnibase_infra.settings import ModelInfraSettings, load_postgres_connection, load_settings

DEPLOY = REPO_ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
BLUE_GREEN = DEPLOY / "blue-green"
COLOURS = ("blue", "green")
MONITORING = REPO_ROOT / "monitoring"
MONITORING_KUBERNETES = MONITORING / "kubernetes"
# Variables a manifest defines only to build other values with $(NAME).
HELPER_VARIABLES = frozenset({"POD_NAME", "POD_NAMESPACE"})


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form argument (``CMD ["a", "b"]``)."""
        text = self.argument
        if text.startswith("CMD "):
            text = text[4:]
        value = json.loads(text)
        assert isinstance(value, list), f"line {self.line}: not an exec-form array"
        return [str(v) for v in value]


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, argument = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), argument.strip(), start))
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Instructions grouped by ``FROM`` (global ``ARG``s before the first ``FROM`` dropped)."""
    grouped: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            grouped.append([instruction])
        elif grouped:
            grouped[-1].append(instruction)
    return grouped


def env_pairs(argument: str) -> dict[str, str]:
    """``ENV A=1 B=2`` as a mapping (the ``key=value`` form only)."""
    pairs: dict[str, str] = {}
    for token in re.findall(r'(\w+)=("[^"]*"|\S+)', argument):
        pairs[token[0]] = token[1].strip('"')
    return pairs


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def kustomization(folder: Path) -> dict[str, Any]:
    """The ``kustomization.yaml`` of ``folder``."""
    loaded: dict[str, Any] = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    return loaded


def kustomize_resources(folder: Path) -> list[dict[str, Any]]:
    """The documents a kustomization lists (files, and folders read recursively), unpatched."""
    found: list[dict[str, Any]] = []
    for entry in kustomization(folder)["resources"]:
        target = (folder / entry).resolve()
        found += kustomize_resources(target) if target.is_dir() else yaml_documents(target)
    return found


def apply_json_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``document`` with RFC 6902 ``add``/``replace`` operations applied (all the
    overlays use); any other operation fails the test that reads it."""
    patched = copy.deepcopy(document)
    for operation in operations:
        assert operation["op"] in {"add", "replace"}, f"unsupported patch operation {operation}"
        *parents, last = operation["path"].strip("/").split("/")
        node = patched
        for key in parents:
            node = node[key.replace("~1", "/").replace("~0", "~")]
        key = last.replace("~1", "/").replace("~0", "~")
        if operation["op"] == "replace":
            assert key in node, f"replace of a missing {operation['path']}"
        node[key] = operation["value"]
    return patched


def render_overlay(folder: Path) -> list[dict[str, Any]]:
    """The resources of an overlay whose only transformation is inline JSON 6902 ``patches``
    aimed by kind and name (the blue-green overlays); other keys fail the test."""
    spec = kustomization(folder)
    assert set(spec) <= {"apiVersion", "kind", "resources", "patches"}, f"{folder}: {sorted(spec)}"
    documents = kustomize_resources(folder)
    for patch in spec.get("patches", []):
        target = patch["target"]
        hits = [
            i
            for i, doc in enumerate(documents)
            if doc["kind"] == target["kind"] and doc["metadata"]["name"] == target["name"]
        ]
        assert len(hits) == 1, f"{folder}: patch target {target} matches {len(hits)} resources"
        documents[hits[0]] = apply_json_patch(documents[hits[0]], yaml.safe_load(patch["patch"]))
    return documents


def kustomize_build(folder: Path) -> list[dict[str, Any]]:
    """The real ``kustomize build`` (or ``kubectl kustomize``) of ``folder``; skips the calling
    test, naming the tools, when neither is installed."""
    if shutil.which("kustomize"):
        command = ["kustomize", "build"]
    elif shutil.which("kubectl"):
        command = ["kubectl", "kustomize"]
    else:
        pytest.skip("neither kustomize nor kubectl is installed")
    done = subprocess.run([*command, str(folder)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def cli_accepts(argv: list[str]) -> bool:
    """Whether ``onex-infra ARGV`` parses (without running anything)."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code == 0
    return True


def _resolve_files(environ: dict[str, str]) -> dict[str, str]:
    resolved = dict(environ)
    for name in secret_file_variables() & set(resolved):
        del resolved[name]
        resolved[name[: -len("_FILE")]] = "placeholder-secret"
    return resolved


def postgres_from(environ: dict[str, str]) -> ModelPostgresConnectionConfig:
    """``load_postgres_connection`` (what ``db migrate`` reads) for a manifest's environment."""
    return load_postgres_connection(_resolve_files(environ))


def settings_from(environ: dict[str, str]) -> ModelInfraSettings:
    """``load_settings`` for a manifest's environment: ``<NAME>_FILE`` mounts become ``<NAME>``.

    The files exist only inside the container, so each is replaced by its variable with a
    placeholder value; everything else is validated exactly as at startup.
    """
    return load_settings(_resolve_files(environ))


def secret_file_variables() -> set[str]:
    """``<NAME>_FILE`` of every secret variable (not the certificate paths like POSTGRES_SSL_CA_FILE)."""
    return {f"{v.name}_FILE" for v in read_variables().values() if v.secret}


def expand_references(value: str, defined: dict[str, str]) -> str:
    """Kubernetes ``$(NAME)`` expansion against the variables defined so far."""
    return re.sub(r"\$\((\w+)\)", lambda m: defined.get(m.group(1), m.group(0)), value)


__all__ = [
    "BLUE_GREEN",
    "COLOURS",
    "DEPLOY",
    "HELPER_VARIABLES",
    "KUBERNETES",
    "MONITORING",
    "MONITORING_KUBERNETES",
    "Instruction",
    "apply_json_patch",
    "cli_accepts",
    "dockerfile_instructions",
    "env_pairs",
    "expand_references",
    "kustomization",
    "kustomize_build",
    "kustomize_resources",
    "render_overlay",
    "secret_file_variables",
    "settings_from",
    "stages",
    "yaml_documents",
]
