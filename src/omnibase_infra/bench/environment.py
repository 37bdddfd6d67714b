"""The bench's servers, the machine it runs on and the versions it measures.

By default the bench runs its OWN PostgreSQL + Kafka pair through ``scripts/services``
(a separate state directory and ports), so it never disturbs a test run on the default
servers. ``--use-env-servers`` uses the servers named by the caller's environment instead.
Commit timestamps (``track_commit_timestamp``) are switched on for the bench's own
PostgreSQL so that "row committed" is the real commit time of its transaction.
"""

from __future__ import annotations

import asyncio
import compileall
import importlib
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICES_SCRIPT = REPO_ROOT / "scripts" / "services"
PACKAGES = (
    "omnibase_infra",
    "omnibase_core",
    "aiokafka",
    "asyncpg",
    "pydantic",
    "pydantic_core",
    "msgspec",
    "opentelemetry-sdk",
)


def compile_package() -> bool:
    """Write the package's bytecode, as ``pip install`` does for the service's image.

    An editable checkout run with ``PYTHONDONTWRITEBYTECODE`` (or fresh from git) has none
    for its own modules, so every ``onex-infra run`` the bench starts would compile about
    220 of them from source before its first commit (0.1-0.2 s of CPU): a cost of the
    checkout, not of the service. ``compileall`` writes the missing and stale ones.
    """
    package = Path(importlib.import_module("omnibase_infra").__file__ or "").parent
    return bool(compileall.compile_dir(package, quiet=1))


@dataclass(frozen=True)
class Servers:
    """Where PostgreSQL and Kafka are, and whether the bench manages them."""

    env: dict[str, str]
    managed: bool
    state_dir: Path

    @property
    def bootstrap(self) -> str:
        return self.env["KAFKA_BOOTSTRAP_SERVERS"]

    @property
    def dsn(self) -> str:
        e = self.env
        user, password = quote(e["POSTGRES_USER"], safe=""), quote(e.get("POSTGRES_PASSWORD", ""), safe="")
        database = quote(e["POSTGRES_DATABASE"], safe="")
        return (
            f"postgresql://{user}:{password}@{e['POSTGRES_HOST']}:{e.get('POSTGRES_PORT', '5432')}/{database}"
        )


SERVER_VARIABLES = (
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DATABASE",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "KAFKA_BOOTSTRAP_SERVERS",
)


def _services_env(state_dir: Path, pg_port: int, kafka_port: int, controller_port: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES and not k.startswith("ONEX_SERVICES")
    }
    env.update(
        ONEX_SERVICES_STATE_DIR=str(state_dir),
        POSTGRES_PORT=str(pg_port),
        KAFKA_PORT=str(kafka_port),
        KAFKA_CONTROLLER_PORT=str(controller_port),
    )
    return env


def services(command: list[str], env: dict[str, str]) -> str:
    """Run ``scripts/services COMMAND``; its stdout (stderr passes through as progress)."""
    done = subprocess.run(
        [str(SERVICES_SCRIPT), *command], env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return done.stdout


def start_own_servers(state_dir: Path, pg_port: int, kafka_port: int, controller_port: int) -> Servers:
    """Start (if needed) the bench's own server pair and return its settings."""
    if not SERVICES_SCRIPT.exists():
        raise SystemExit(f"{SERVICES_SCRIPT} not found: run from a checkout or pass --use-env-servers")
    env = _services_env(state_dir, pg_port, kafka_port, controller_port)
    services(["start"], env)
    found: dict[str, str] = {}
    for line in services(["env"], env).splitlines():
        if line.startswith("export "):
            name, _, value = shlex.split(line[len("export ") :])[0].partition("=")
            found[name] = value
    return Servers({**env, **found}, managed=True, state_dir=state_dir)


def env_servers(state_dir: Path) -> Servers:
    missing = [n for n in SERVER_VARIABLES if n != "POSTGRES_PASSWORD" and not os.environ.get(n)]
    if missing:
        raise SystemExit(f"--use-env-servers: {', '.join(missing)} not set")
    return Servers(dict(os.environ), managed=False, state_dir=state_dir)


async def ensure_commit_timestamps(servers: Servers) -> bool:
    """True when ``track_commit_timestamp`` is on (switching it on for our own server)."""
    conn = await asyncpg.connect(servers.dsn)
    try:
        on = str(await conn.fetchval("SHOW track_commit_timestamp")) == "on"
    finally:
        await conn.close()
    if on or not servers.managed or not servers.env.get("POSTGRES_ADMIN_COMMAND"):
        return on
    await asyncio.to_thread(_enable_commit_timestamps, servers)
    return True


def _enable_commit_timestamps(servers: Servers) -> None:
    admin = shlex.split(servers.env["POSTGRES_ADMIN_COMMAND"])
    subprocess.run(
        [*admin, "-c", "ALTER SYSTEM SET track_commit_timestamp = on"], check=True, stdout=subprocess.DEVNULL
    )
    services(["restart-postgres"], servers.env)


def machine() -> dict[str, object]:
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
    }


async def versions(servers: Servers) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    conn = await asyncpg.connect(servers.dsn)
    try:
        found["postgresql"] = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
    found.update(await asyncio.to_thread(_tool_versions, servers))
    return found


def _tool_versions(servers: Servers) -> dict[str, str]:
    """The broker's version (our own servers only) and the checkout's git revision."""
    found: dict[str, str] = {}
    found["kafka"] = "external"
    if servers.managed:
        status = subprocess.run(
            [str(SERVICES_SCRIPT), "status"], env=servers.env, check=False, capture_output=True, text=True
        ).stdout
        for line in status.splitlines():
            if line.startswith("kafka") and "Apache Kafka" in line:
                found["kafka"] = line.split("Apache Kafka", 1)[1].split()[0]
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        found["git"] = head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        found["git"] = "unknown"
    return found
