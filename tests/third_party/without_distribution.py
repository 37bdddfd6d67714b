"""Run ``onex-infra`` as if one distribution were not installed, without touching the venv.

Usage: ``python tests/third_party/without_distribution.py DIST ARGS...`` runs
``onex-infra ARGS...`` in this process after hiding the installed distribution ``DIST``:

- ``importlib.metadata`` no longer finds it (``PathFinder.find_distributions`` is
  filtered), so neither its entry points (the ``onex.nodes`` registration) nor its
  metadata exist for anything that asks;
- the ``sys.path`` entries its ``.pth`` files added (an editable install's source folder)
  are removed, so its modules cannot be imported either.

That is what ``pip uninstall DIST`` leaves behind, seen from the importing process; the
shared test venv stays as it is (other tests, running in parallel or later, still find
it). The wrapper refuses to run when ``DIST`` is not installed, or is still visible after
hiding (so the test cannot pass because nothing was hidden).
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import os
import re
import sys
from collections.abc import Iterable, Iterator


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _added_paths(dist: importlib.metadata.Distribution) -> set[str]:
    """The folders the distribution's ``.pth`` files put on ``sys.path``."""
    folders: set[str] = set()
    for file in dist.files or ():
        if file.suffix != ".pth":
            continue
        for raw in file.read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith(("#", "import ")):
                folders.add(os.path.realpath(line))
    return folders


def hide(name: str) -> None:
    """Make the installed distribution ``name`` invisible to this process."""
    dist = importlib.metadata.distribution(name)  # PackageNotFoundError: nothing to hide
    hidden = _normal(name)
    folders = _added_paths(dist)
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") not in folders]
    original = importlib.machinery.PathFinder.find_distributions

    def find_distributions(*args: object, **kwargs: object) -> Iterator[importlib.metadata.Distribution]:
        found: Iterable[importlib.metadata.Distribution] = original(*args, **kwargs)  # type: ignore[arg-type]
        return (d for d in found if _normal(d.metadata["Name"] or "") != hidden)

    importlib.machinery.PathFinder.find_distributions = staticmethod(find_distributions)  # type: ignore[assignment, method-assign]
    importlib.invalidate_caches()
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return
    raise SystemExit(f"without_distribution: {name} is still visible after hiding it")


def main() -> int:
    if len(sys.argv) < 2:
        raise SystemExit("usage: without_distribution.py DIST [onex-infra ARGS...]")
    hide(sys.argv[1])
    from omnibase_infra.cli.main import main as onex_infra

    return onex_infra(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
