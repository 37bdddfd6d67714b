"""``warm_imports``: post-I/O modules imported in a thread; a failing one is left to its importer."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnibase_infra.runtime import warm_imports


@pytest.fixture
def modules_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("h4_warm_ok", "h4_warm_broken"):
        sys.modules.pop(name, None)


def test_warm_imports_the_modules_in_a_thread(modules_dir: Path) -> None:
    source = "import threading\nIMPORTED_BY = threading.current_thread().name\n"
    (modules_dir / "h4_warm_ok.py").write_text(source)
    warm_imports.warm(["h4_warm_ok"]).join(timeout=30)
    assert sys.modules["h4_warm_ok"].IMPORTED_BY == "onex-warm-imports"


def test_a_module_that_fails_is_skipped_and_the_rest_imported(modules_dir: Path) -> None:
    (modules_dir / "h4_warm_broken.py").write_text("raise RuntimeError('broken')\n")
    (modules_dir / "h4_warm_ok.py").write_text("VALUE = 1\n")
    warm_imports.warm(["h4_warm_broken", "h4_warm_ok"]).join(timeout=30)
    assert "h4_warm_broken" not in sys.modules
    assert sys.modules["h4_warm_ok"].VALUE == 1


def test_importing_the_service_leaves_http_and_the_tracing_sdk_to_the_warm_thread() -> None:
    code = (
        "import sys\n"
        "import omnibase_infra.runtime.service\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'opentelemetry.sdk'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
