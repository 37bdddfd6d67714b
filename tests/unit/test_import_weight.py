"""Importing the package and asking for help stay light: no Kafka client, no OTel SDK, no node classes.

Help is asked both of ``onex-infra``'s ``main`` and of ``python -m omnibase_infra``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("aiokafka", "opentelemetry.sdk", "omnibase_core.nodes")

PROBES = {
    "import": "import omnibase_infra",
    "help": (
        "import contextlib, io\n"
        "from omnibase_infra.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
    ),
    "contract models": "import omnibase_infra.contract_validation.contract_set",
    "python -m": (
        "import contextlib, io, runpy, sys\n"
        "sys.argv = ['omnibase_infra', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    runpy.run_module('omnibase_infra', run_name='__main__')\n"
    ),
    # The original guide's entry points are resolved on first access, not on import.
    "infrastructure package": "import omnibase_infra.infrastructure",
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_heavy_modules_stay_unloaded(probe: str) -> None:
    code = (
        PROBES[probe]
        + "\nimport sys\nprint(sorted(m for m in sys.modules if m.startswith("
        + repr(HEAVY)
        + ")))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
