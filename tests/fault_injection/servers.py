"""The fault servers: connection settings and the ``scripts/services`` fault commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FaultServers:
    """The PostgreSQL and Kafka that ``scripts/faults`` started (read from the environment)."""

    dsn: str
    bootstrap: str
    services_script: Path
    admin_psql: tuple[str, ...]
    state_dir: Path

    @classmethod
    def from_environment(cls) -> FaultServers:
        env = os.environ
        missing = [
            name
            for name in ("POSTGRES_HOST", "POSTGRES_PORT", "KAFKA_BOOTSTRAP_SERVERS", "ONEX_SERVICES_DIR")
            if not env.get(name)
        ]
        if missing:
            raise SystemExit(f"faults: {', '.join(missing)} not set; run through scripts/faults")
        dsn = (
            f"postgresql://{quote(env['POSTGRES_USER'], safe='')}:"
            f"{quote(env.get('POSTGRES_PASSWORD', ''), safe='')}@{env['POSTGRES_HOST']}:"
            f"{env['POSTGRES_PORT']}/{quote(env['POSTGRES_DATABASE'], safe='')}"
        )
        script = Path(env.get("ONEX_FAULTS_SERVICES_SCRIPT", str(REPO_ROOT / "scripts" / "services")))
        return cls(
            dsn=dsn,
            bootstrap=env["KAFKA_BOOTSTRAP_SERVERS"],
            services_script=script,
            admin_psql=tuple(env.get("POSTGRES_ADMIN_COMMAND", "").split()),
            state_dir=Path(env["ONEX_SERVICES_DIR"]),
        )

    def services(self, *args: str, timeout: float = 180.0) -> float:
        """Run ``scripts/services ARGS`` (blocking); return how long it took. Raises on failure."""
        started = time.monotonic()
        done = subprocess.run(
            [str(self.services_script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scripts/services {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return time.monotonic() - started

    async def fault(self, *args: str) -> float:
        """``services`` without blocking the event loop (the stream keeps running)."""
        return await asyncio.to_thread(self.services, *args)

    def admin_sql(self, sql: str) -> str:
        """Run ``sql`` as the cluster's superuser (through its private socket)."""
        if not self.admin_psql:
            raise RuntimeError("POSTGRES_ADMIN_COMMAND is not set")
        done = subprocess.run(
            [*self.admin_psql, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"admin SQL failed: {done.stderr}")
        return done.stdout

    def postgres_log(self) -> Path:
        """The server log (``scripts/services`` keeps it beside the data directory)."""
        sock_dir = next((a for a in self.admin_psql if a.endswith("/run")), "")
        if sock_dir:
            return Path(sock_dir).parent / "postgres.log"
        return self.state_dir / "postgres" / "postgres.log"

    async def connect(self, schema: str | None = None, *, within: float = 60.0) -> asyncpg.Connection:
        """Connect (retrying while the server restarts), with ``search_path`` set to ``schema``."""
        deadline = time.monotonic() + within
        settings = {"search_path": schema} if schema else {}
        while True:
            try:
                return await asyncpg.connect(self.dsn, timeout=5, server_settings=settings)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.3)


__all__ = ["REPO_ROOT", "FaultServers"]
