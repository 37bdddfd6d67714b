"""Fixtures of the contract validation tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .third_party import InstalledTestNode, NodeSource, install_node, remove_from_path

Installer = Callable[..., InstalledTestNode]


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Installer]:
    """``install(node, with_contract=True)``: a third-party node package under ``tmp_path/site``."""
    root = tmp_path / "site"
    packages: set[str] = set()

    def installer(node: NodeSource, *, with_contract: bool = True) -> InstalledTestNode:
        packages.add(node.package)
        return install_node(root, node, with_contract=with_contract)

    yield installer
    for package in packages:
        remove_from_path(root, package)
