"""Where contract files come from: the package, installed nodes, ONEX_CONTRACTS_PATH, the command line.

Shipped: ``nodes/<name>/v<M>_<m>_<p>/contract.yaml`` and the compositions in
``nodes/<name>/v<M>_<m>_<p>/compositions/*.yaml`` inside the installed package.
Entry point: every ``onex.nodes`` entry point ``module:Class`` whose module lies outside
``omnibase_infra`` (a third-party node) contributes the ``contract.yaml`` beside its
module; the module is located, not imported (nor are its parent packages). Entry points
that name no class (omnibase-core ships module-only ones) contribute nothing.
Extra: each path is a file or a folder (searched recursively for ``*.yaml`` /
``*.yml``, in sorted order). ONEX_CONTRACTS_PATH holds a comma-separated list, the
same format ``settings.load_settings`` parses.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib.machinery import ModuleSpec
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import omnibase_infra
from omnibase_infra.contract_validation.problems import Origin

CONTRACTS_PATH_VARIABLE = "ONEX_CONTRACTS_PATH"
ENTRY_POINT_GROUP = "onex.nodes"
PACKAGE_ROOT = Path(omnibase_infra.__file__).resolve().parent
NODES_ROOT = PACKAGE_ROOT / "nodes"
NODE_CONTRACT_FILE = "contract.yaml"


def display_name(path: Path | str, origin: Origin) -> str:
    """How reports name a contract file: shipped ones relative to the package's parent folder."""
    path = Path(path)
    if origin == "shipped":
        try:
            return str(path.relative_to(PACKAGE_ROOT.parent))
        except ValueError:
            return str(path)
    return str(path)


@dataclass(frozen=True)
class ContractSource:
    """A file to validate; ``display`` is how reports name it."""

    path: Path
    origin: Origin

    @property
    def display(self) -> str:
        return display_name(self.path, self.origin)


def shipped_sources(nodes_root: Path = NODES_ROOT) -> list[ContractSource]:
    """The node contracts, then the compositions, shipped in the package (sorted)."""
    contracts = sorted(nodes_root.glob("*/v*/contract.yaml"))
    compositions = sorted(nodes_root.glob("*/v*/compositions/*.yaml"))
    return [ContractSource(p, "shipped") for p in (*contracts, *compositions)]


def _find_spec(name: str, path: Sequence[str] | None) -> ModuleSpec | None:
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded.__spec__
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, path)
        except (ImportError, ValueError):
            return None
        if isinstance(spec, ModuleSpec):
            return spec
    return None


def module_folder(module: str) -> Path | None:
    """The folder of ``module``'s file (of its ``__init__`` for a package), or None.

    The module is located the way ``import`` would find it, level by level, without
    executing it or its parent packages (``importlib.util.find_spec`` imports the parents).
    """
    parts = module.split(".")
    path: Sequence[str] | None = None
    spec: ModuleSpec | None = None
    for depth in range(1, len(parts) + 1):
        spec = _find_spec(".".join(parts[:depth]), path)
        if spec is None:
            return None
        if depth < len(parts):
            path = spec.submodule_search_locations
            if path is None:
                return None
    if spec is None:
        return None
    if spec.origin is not None and spec.has_location:
        return Path(spec.origin).resolve().parent
    locations = spec.submodule_search_locations
    return Path(locations[0]).resolve() if locations else None


def is_own_module(module: str) -> bool:
    """True for ``omnibase_infra`` and its submodules (their contracts are shipped)."""
    return module == "omnibase_infra" or module.startswith("omnibase_infra.")


@dataclass(frozen=True)
class InstalledNode:
    """One ``onex.nodes`` entry point: an installed node, located without importing it.

    ``contract`` is the ``contract.yaml`` beside the module of a third-party node's class;
    ``why_no_contract`` says why there is none (for reports naming the node).
    """

    name: str
    value: str
    module: str
    ours: bool
    contract: Path | None = None
    why_no_contract: str | None = None


def _installed_node(point: EntryPoint) -> InstalledNode:
    ours = is_own_module(point.module)
    node = InstalledNode(point.name, point.value, point.module, ours)
    if ours:
        return node
    if not point.attr:
        return replace(node, why_no_contract="its entry point names no class")
    folder = module_folder(point.module)
    if folder is None:
        why = f"module {point.module} cannot be found"
        return replace(node, why_no_contract=why)
    contract = folder / NODE_CONTRACT_FILE
    if not contract.is_file():
        why = f"no {NODE_CONTRACT_FILE} beside module {point.module} ({folder})"
        return replace(node, why_no_contract=why)
    return replace(node, contract=contract)


def installed_entry_points() -> tuple[EntryPoint, ...]:
    """The installed ``onex.nodes`` entry points (a scan of every distribution's metadata)."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def installed_nodes(found: Iterable[EntryPoint] | None = None) -> dict[str, InstalledNode]:
    """Every ``onex.nodes`` entry point by name (``found`` replaces the installed ones in tests)."""
    points = installed_entry_points() if found is None else found
    installed: dict[str, InstalledNode] = {}
    for point in sorted(points, key=lambda p: (p.name, p.value)):
        installed.setdefault(point.name, _installed_node(point))
    return installed


def entry_point_sources(installed: Mapping[str, InstalledNode]) -> list[ContractSource]:
    """The contracts of third-party nodes: ``contract.yaml`` beside each entry point's module."""
    found = {n.contract.resolve(): n.contract for n in installed.values() if n.contract is not None}
    return [ContractSource(found[key], "entry_point") for key in sorted(found)]


def paths_from_environment(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The entries of ONEX_CONTRACTS_PATH (comma-separated; blanks ignored)."""
    raw = (os.environ if environ is None else environ).get(CONTRACTS_PATH_VARIABLE, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class ExpandedPaths:
    sources: list[ContractSource]
    missing: list[str]


def expand_extra_paths(paths: Iterable[str | Path]) -> ExpandedPaths:
    """Turn files and folders into contract sources; report paths that do not exist.

    A file given twice (directly or through a folder) is validated once.
    """
    sources: dict[Path, ContractSource] = {}
    missing: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            for file in found:
                sources.setdefault(file.resolve(), ContractSource(file, "extra"))
        elif path.is_file():
            sources.setdefault(path.resolve(), ContractSource(path, "extra"))
        else:
            missing.append(str(raw))
    return ExpandedPaths(sources=list(sources.values()), missing=missing)


def combined_extra_paths(
    explicit: Sequence[str | Path], environ: Mapping[str, str] | None = None
) -> tuple[str | Path, ...]:
    """ONEX_CONTRACTS_PATH entries first, then the explicit ones."""
    return (*paths_from_environment(environ), *explicit)


__all__ = [
    "CONTRACTS_PATH_VARIABLE",
    "ENTRY_POINT_GROUP",
    "NODES_ROOT",
    "NODE_CONTRACT_FILE",
    "PACKAGE_ROOT",
    "ContractSource",
    "ExpandedPaths",
    "InstalledNode",
    "combined_extra_paths",
    "display_name",
    "entry_point_sources",
    "expand_extra_paths",
    "installed_entry_points",
    "installed_nodes",
    "is_own_module",
    "module_folder",
    "paths_from_environment",
    "shipped_sources",
]
