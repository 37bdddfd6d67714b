"""Where contract files come from: the package, ONEX_CONTRACTS_PATH and the command line.

Shipped: ``nodes/<name>/v<M>_<m>_<p>/contract.yaml`` and the compositions in
``nodes/<name>/v<M>_<m>_<p>/compositions/*.yaml`` inside the installed package.
Extra: each path is a file or a folder (searched recursively for ``*.yaml`` /
``*.yml``, in sorted order). ONEX_CONTRACTS_PATH holds a comma-separated list, the
same format ``settings.load_settings`` parses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import omnibase_infra

CONTRACTS_PATH_VARIABLE = "ONEX_CONTRACTS_PATH"
PACKAGE_ROOT = Path(omnibase_infra.__file__).resolve().parent
NODES_ROOT = PACKAGE_ROOT / "nodes"


@dataclass(frozen=True)
class ContractSource:
    """A file to validate; ``display`` is how reports name it."""

    path: Path
    origin: Literal["shipped", "extra"]

    @property
    def display(self) -> str:
        if self.origin == "shipped":
            try:
                return str(self.path.relative_to(PACKAGE_ROOT.parent))
            except ValueError:
                return str(self.path)
        return str(self.path)


def shipped_sources(nodes_root: Path = NODES_ROOT) -> list[ContractSource]:
    """The node contracts, then the compositions, shipped in the package (sorted)."""
    contracts = sorted(nodes_root.glob("*/v*/contract.yaml"))
    compositions = sorted(nodes_root.glob("*/v*/compositions/*.yaml"))
    return [ContractSource(p, "shipped") for p in (*contracts, *compositions)]


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
    "NODES_ROOT",
    "PACKAGE_ROOT",
    "ContractSource",
    "ExpandedPaths",
    "combined_extra_paths",
    "expand_extra_paths",
    "paths_from_environment",
    "shipped_sources",
]
