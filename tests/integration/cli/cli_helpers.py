"""Helpers of the CLI integration tests (a module, so that test files can import them)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

# service_harness lives with the runtime tests; this directory's tests use it too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from service_harness import free_port

ONEX_INFRA = str(Path(sys.executable).parent / "onex-infra")
ADMIN_TOKEN = "cli-test-admin-token-5f1c"


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


async def run_cli(*args: str, env: dict[str, str], within: float = 90.0) -> CliResult:
    """Run ``onex-infra ARGS`` with exactly ``env``; the event loop keeps running meanwhile."""
    process = await asyncio.create_subprocess_exec(
        ONEX_INFRA,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())


def closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    return free_port()
