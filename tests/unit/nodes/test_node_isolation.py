"""Nodes never import each other, and the lower layers never import a node (docs/architecture.md).

A node reaches another node's work only through a workflow step or a protocol the container
resolves; shared types live in ``omnibase_infra.workflow`` (or ``models``/``protocols``).
Checked on the source, type-only imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import omnibase_infra

PACKAGE = Path(omnibase_infra.__file__).parent
NODES = PACKAGE / "nodes"
LOWER_LAYERS = ("workflow", "models", "protocols", "infrastructure", "contract_validation", "observability")
SHARED = ("omnibase_infra.nodes.node_binding",)
# The original guide's accessors (get_connection_manager() & co., in the modules the guide names)
# return the running process's instances: a call-time import of the host's registry of them.
GUIDE_ACCESSORS = "omnibase_infra.runtime.process_services"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_no_node_imports_another_node() -> None:
    offences: list[str] = []
    for folder in sorted(p for p in NODES.iterdir() if p.is_dir() and not p.name.startswith("_")):
        own = f"omnibase_infra.nodes.{folder.name}"
        for path in sorted(folder.rglob("*.py")):
            for module in _imports(path):
                if (
                    module.startswith("omnibase_infra.nodes.")
                    and not module.startswith(own)
                    and module not in SHARED
                ):
                    offences.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offences == []


def test_the_lower_layers_import_no_node() -> None:
    offences = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for layer in LOWER_LAYERS
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for module in _imports(path)
        if module.startswith("omnibase_infra.nodes")
        or (module.startswith("omnibase_infra.runtime") and module != GUIDE_ACCESSORS)
    ]
    assert offences == []
