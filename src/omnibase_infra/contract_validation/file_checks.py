"""Checks inside one contract file that JSON Schema cannot express.

Named operations: unique names, one statement, ``$1..$n`` matching the declared
parameters, no write keyword in a ``read_only`` statement, each parameter schema a
valid JSON Schema. Node contracts: the version folder matches ``contract_version``,
the node folder matches ``name``, each protocol dependency exists in its module.
Workflows: unique names and step ids.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from omnibase_infra.contract_validation.model_contract_sections import (
    ModelProtocolDependency,
    ModelSemVerValue,
)
from omnibase_infra.contract_validation.model_operations import ModelOperationDefinition
from omnibase_infra.contract_validation.model_workflows import ModelWorkflow
from omnibase_infra.contract_validation.problems import PathPart
from omnibase_infra.contract_validation.sql_checks import (
    placeholder_problems,
    statement_problems,
    write_keywords,
)

Report = Callable[[Sequence[PathPart], str], None]
"""Callback receiving (key path parts, reason) for each problem found."""

_VERSION_FOLDER = re.compile(r"^v(\d+)_(\d+)_(\d+)$")


def check_operations(
    operations: Sequence[tuple[int, ModelOperationDefinition]], prefix: str, report: Report
) -> None:
    """Per-operation checks; ``operations`` pairs each definition with its list position."""
    seen: dict[str, int] = {}
    for index, op in operations:
        at: list[PathPart] = [prefix, index]
        if op.name in seen:
            report([*at, "name"], f"operation {op.name!r} is already declared at {prefix}[{seen[op.name]}]")
        seen.setdefault(op.name, index)
        for reason in statement_problems(op.sql):
            report([*at, "sql"], reason)
        for reason in placeholder_problems(op.sql, op.parameter_names):
            report([*at, "parameters"], reason)
        if op.read_only:
            found = write_keywords(op.sql)
            if found:
                report([*at, "sql"], f"read_only operation contains {', '.join(found)}")
        names: set[str] = set()
        for p_index, parameter in enumerate(op.parameters):
            if parameter.name in names:
                report(
                    [*at, "parameters", p_index, "name"], f"parameter {parameter.name!r} is declared twice"
                )
            names.add(parameter.name)
            try:
                Draft202012Validator.check_schema(parameter.json_schema)
            except SchemaError as exc:
                report([*at, "parameters", p_index, "schema"], f"not a valid JSON Schema: {exc.message}")


def check_version_folder(
    path: Path, name: str | None, version: ModelSemVerValue | None, report: Report
) -> None:
    """A contract in a ``v…`` folder must match it, and that folder's parent must be its name."""
    folder = path.parent.name
    if not (folder.startswith("v") and folder[1:2].isdigit()):
        return
    if _VERSION_FOLDER.match(folder) is None:
        report(["contract_version"], f"folder {folder!r} is not a version folder v<major>_<minor>_<patch>")
        return
    if version is not None and version.folder_name != folder:
        report(["contract_version"], f"contract_version {version} does not match its folder {folder}")
    node_folder = path.parent.parent.name
    if name is not None and node_folder != name:
        report(["name"], f"name {name!r} does not match its node folder {node_folder!r}")


@cache
def _top_level_names(module: str) -> frozenset[str] | None:
    """Names a module defines or imports at top level, read from its source.

    ``find_spec`` imports the parent packages; the module itself is never run.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
        elif isinstance(stmt, ast.TypeAlias) and isinstance(stmt.name, ast.Name):
            names.add(stmt.name.id)
        elif isinstance(stmt, ast.ImportFrom | ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in stmt.names)
    return frozenset(names)


def check_dependencies(dependencies: Sequence[tuple[int, ModelProtocolDependency]], report: Report) -> None:
    """Each dependency (with its list position) names a protocol its module defines, once."""
    seen: set[str] = set()
    for index, dep in dependencies:
        if dep.name in seen:
            report(["dependencies", index, "name"], f"dependency {dep.name} is declared twice")
        seen.add(dep.name)
        names = _top_level_names(dep.module)
        if names is None:
            report(["dependencies", index, "module"], f"module {dep.module} cannot be found")
        elif dep.name not in names:
            report(["dependencies", index, "name"], f"{dep.name} is not defined in {dep.module}")


def check_class_paths(paths: Sequence[tuple[str, str]], report: Report) -> None:
    """Each ``(key, "package.module.Class")`` names a class its module defines (read from source)."""
    for key, path in paths:
        module, _, name = path.rpartition(".")
        names = _top_level_names(module) if module else None
        if names is None:
            report([key], f"module {module or path} cannot be found")
        elif name not in names:
            report([key], f"{name} is not defined in {module}")


def check_workflows(workflows: Sequence[tuple[int, ModelWorkflow]], report: Report) -> None:
    """Workflow names unique within the file; step ids unique within each workflow."""
    seen: set[str] = set()
    for index, workflow in workflows:
        if workflow.name in seen:
            report(["workflows", index, "name"], f"workflow {workflow.name!r} is declared twice")
        seen.add(workflow.name)
        step_ids: set[str] = set()
        for s_index, step in enumerate(workflow.steps):
            if step.id in step_ids:
                report(["workflows", index, "steps", s_index, "id"], f"step id {step.id!r} is used twice")
            step_ids.add(step.id)


__all__ = [
    "Report",
    "check_class_paths",
    "check_dependencies",
    "check_operations",
    "check_version_folder",
    "check_workflows",
]
