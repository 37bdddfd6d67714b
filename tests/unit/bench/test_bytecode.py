"""The bench writes the package's bytecode before starting the service (as the image's pip install does)."""

from __future__ import annotations

import compileall
from pathlib import Path

import pytest

import omnibase_infra
from omnibase_infra.bench import environment


def test_compile_package_compiles_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[Path] = []

    def compile_dir(folder: Path, **options: object) -> bool:
        compiled.append(Path(folder))
        return True

    monkeypatch.setattr(compileall, "compile_dir", compile_dir)
    assert environment.compile_package()
    assert compiled == [Path(omnibase_infra.__file__).parent]


def test_compile_package_reports_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compileall, "compile_dir", lambda folder, **options: False)
    assert not environment.compile_package()
