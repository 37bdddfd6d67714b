"""A dedicated PostgreSQL instance that accepts TLS only, with a server certificate from a test CA.

The security tests own this instance (its own data directory and port), so they can require
TLS, change ``pg_hba.conf`` and stop the server without disturbing the shared server of
``scripts/services``. The server binaries are the same Debian ones (``/usr/lib/postgresql``).

Authentication (``pg_hba.conf``): TLS connections from 127.0.0.1 and 127.0.0.2 with a password
(SCRAM); the role ``CERT_ROLE`` with a client certificate instead (``cert``); every
connection without TLS is rejected. The superuser is reachable only over the private Unix
socket (``admin_connect``). The server certificate names ``IP:127.0.0.1`` and ``DNS:localhost``
only, so connecting to 127.0.0.2 is a hostname mismatch for ``verify-full``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from tls_material import IssuedCert, TestCa

CERT_ROLE = "onex_cert_client"
"""The role that logs in with a client certificate (its CN) and no password."""
ALTERNATE_HOST = "127.0.0.2"
"""Also served, but not named by the server certificate."""


def _pg_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: run scripts/services start first")
    return candidates[-1].parent


def _as_postgres() -> list[str]:
    """Run server binaries as the ``postgres`` OS user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


@dataclass
class TlsPostgres:
    """One running TLS-only server; ``start()`` then ``stop()``."""

    base: Path
    port: int
    ca: TestCa
    server: IssuedCert
    client: IssuedCert
    bin_dir: Path = field(default_factory=_pg_bin)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "run"

    @property
    def log_file(self) -> Path:
        return self.base / "postgres.log"

    @classmethod
    def create(cls, port: int) -> TlsPostgres:
        """Make the CA, the certificates and an initialised (not started) cluster."""
        # Not under pytest's tmp_path: the postgres OS user must be able to reach it.
        base = Path(tempfile.mkdtemp(prefix="onex-tls-pg-"))
        base.chmod(0o755)
        ca = TestCa.create(base / "ca", "postgres")
        server = ca.issue("server", common_name="127.0.0.1", san="IP:127.0.0.1,DNS:localhost")
        client = ca.issue("client", common_name=CERT_ROLE, san=f"DNS:{CERT_ROLE}", client=True)
        (base / "ca").chmod(0o755)
        ca.cert.chmod(0o644)
        instance = cls(base, port, ca, server, client)
        instance._init_cluster()
        return instance

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        done = subprocess.run(
            [*_as_postgres(), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""
            output = f"{done.stdout}{done.stderr}{log}"
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{output}")

    def _init_cluster(self) -> None:
        for path in (self.data, self.socket_dir, self.base / "tls"):
            path.mkdir(mode=0o700)
            _chown_postgres(path)
        # The server key must belong to the server's OS user and be private.
        tls = self.base / "tls"
        for source, name in ((self.server.cert, "server.crt"), (self.server.key, "server.key")):
            target = tls / name
            shutil.copyfile(source, target)
            target.chmod(0o600)
            _chown_postgres(target)
        self.log_file.touch()
        _chown_postgres(self.log_file)
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
            "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=reject", "--no-sync",
        )  # fmt: skip
        hba = self.data / "pg_hba.conf"
        hba.write_text(
            "# Written by the security tests: TLS or nothing.\n"
            "local      all  all                               trust\n"
            f"hostssl    all  {CERT_ROLE}  127.0.0.1/32          cert\n"
            "hostssl    all  all        127.0.0.1/32          scram-sha-256\n"
            f"hostssl    all  all        {ALTERNATE_HOST}/32    scram-sha-256\n"
            "hostnossl  all  all        0.0.0.0/0             reject\n"
        )
        conf = self.data / "postgresql.conf"
        with conf.open("a") as out:
            out.write(
                "\n# security tests\n"
                f"listen_addresses = '127.0.0.1,{ALTERNATE_HOST}'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "unix_socket_permissions = 0700\n"
                "ssl = on\n"
                f"ssl_cert_file = '{tls / 'server.crt'}'\n"
                f"ssl_key_file = '{tls / 'server.key'}'\n"
                f"ssl_ca_file = '{self.ca.cert}'\n"
                "ssl_min_protocol_version = 'TLSv1.2'\n"
                "password_encryption = 'scram-sha-256'\n"
                "fsync = off\n"
                "max_connections = 60\n"
                "log_min_messages = warning\n"
            )
        for path in (hba, conf):
            _chown_postgres(path)

    def start(self) -> None:
        self._run(
            str(self.bin_dir / "pg_ctl"), "start", "-D", str(self.data), "-l", str(self.log_file),
            "-w", "-t", "60", "-s",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = str(self.bin_dir / "pg_ctl")
        self._run(pg_ctl, "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "-s")

    def running(self) -> bool:
        done = subprocess.run(
            [*_as_postgres(), str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data)],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def destroy(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    async def admin_connect(self, database: str = "postgres") -> asyncpg.Connection:
        """A superuser session over the private Unix socket."""
        return await asyncpg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", database=database
        )


__all__ = ["ALTERNATE_HOST", "CERT_ROLE", "TlsPostgres"]
