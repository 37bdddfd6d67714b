"""PostgreSQL's client programs (``pg_dump``, ``pg_restore``): finding them and running them.

Guarantees:

- ``find_client_tools(server_major)`` returns programs whose major version is the server's:
  an archive is made and read by the release that matches the server. It looks in the
  directory given (``--pg-bin``) and nowhere else, or else in Debian's
  ``/usr/lib/postgresql/<major>/bin`` (the layout ``scripts/services`` uses), then on
  ``PATH``. A missing program or a version mismatch raises ``BackupError`` saying what was
  found where and which package to install.
- ``run_client`` passes every connection setting through libpq's environment (``PGHOST``,
  ``PGPASSWORD``, ``PGSSLMODE``, ...), never on the command line, so no password appears in
  ``ps`` output; the caller's own ``PG*`` variables are not inherited. Failures carry the
  program's stderr with the password masked.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from omnibase_infra.errors import BackupError
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

DEBIAN_LAYOUT = "/usr/lib/postgresql/{major}/bin"
PROGRAMS = ("pg_dump", "pg_restore")
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_MAX_STDERR = 2000


@dataclass(frozen=True)
class ClientTools:
    """``pg_dump`` and ``pg_restore`` of one PostgreSQL major release."""

    pg_dump: Path
    pg_restore: Path
    major: int
    version: str


@dataclass(frozen=True)
class ClientRun:
    """What a client program printed; ``returncode`` 0 means it succeeded."""

    returncode: int
    stdout: str
    stderr: str


def server_major(server_version_num: int) -> int:
    """The major release of a ``server_version_num`` (150018 -> 15)."""
    return server_version_num // 10000


async def program_version(program: Path) -> tuple[int, str] | None:
    """``(major, "15.18")`` from ``program --version``, or ``None`` if it does not answer so."""
    try:
        process = await asyncio.create_subprocess_exec(
            str(program),
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, _ = await process.communicate()
    except OSError:
        return None
    found = _VERSION.search(stdout.decode(errors="replace"))
    if process.returncode != 0 or found is None:
        return None
    minor = found.group(2)
    return int(found.group(1)), found.group(1) + (f".{minor}" if minor else "")


def _candidates(program: str, major: int, bin_dir: Path | None, path: str | None) -> list[Path]:
    if bin_dir is not None:
        return [bin_dir / program]
    found = [Path(DEBIAN_LAYOUT.format(major=major)) / program]
    on_path = shutil.which(program, path=path)
    if on_path is not None:
        found.append(Path(on_path))
    return found


async def find_client_tools(
    major: int, *, bin_dir: Path | None = None, path: str | None = None
) -> ClientTools:
    """``pg_dump`` and ``pg_restore`` of PostgreSQL ``major``; raises ``BackupError`` otherwise.

    ``bin_dir`` (the ``--pg-bin`` option) is the only place looked at when given; ``path``
    replaces ``$PATH`` (tests).
    """
    chosen: dict[str, Path] = {}
    version = ""
    for program in PROGRAMS:
        seen: list[str] = []
        for candidate in _candidates(program, major, bin_dir, path):
            if not (candidate.is_file() and os.access(candidate, os.X_OK)):
                seen.append(f"no {candidate}")
                continue
            answer = await program_version(candidate)
            if answer is None:
                seen.append(f"{candidate} does not report a PostgreSQL version")
            elif answer[0] != major:
                seen.append(f"{candidate} is PostgreSQL {answer[1]}")
            else:
                chosen[program] = candidate
                version = answer[1]
                break
        if program not in chosen:
            where = "; ".join(seen) if seen else f"no {program} on PATH"
            raise BackupError(
                f"{program} of PostgreSQL {major} (the server's release) not found ({where}); "
                f"install the client package (Debian: postgresql-client-{major}) or pass --pg-bin DIR"
            )
    return ClientTools(
        pg_dump=chosen["pg_dump"], pg_restore=chosen["pg_restore"], major=major, version=version
    )


def client_environment(
    config: ModelPostgresConnectionConfig,
    password: str | None,
    *,
    database: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a client program: ``base`` without its ``PG*`` variables, plus libpq's.

    ``database`` replaces ``config.database`` (a restore target).
    """
    inherited = os.environ if base is None else base
    env = {name: value for name, value in inherited.items() if not name.startswith("PG")}
    env.update(
        PGHOST=config.host,
        PGPORT=str(config.port),
        PGUSER=config.user,
        PGDATABASE=database or config.database,
        PGSSLMODE=config.ssl_mode,
        PGCONNECT_TIMEOUT=str(max(2, math.ceil(config.connect_timeout))),
        PGAPPNAME=f"{config.application_name}-backup",
    )
    if password:
        env["PGPASSWORD"] = password
    for variable, value in (
        ("PGSSLROOTCERT", config.ssl_ca_file),
        ("PGSSLCERT", config.ssl_cert_file),
        ("PGSSLKEY", config.ssl_key_file),
    ):
        if value:
            env[variable] = value
    return env


def mask(text: str, password: str | None) -> str:
    """``text`` with ``password`` replaced by ``***`` and its length bounded (last lines kept)."""
    if password:
        text = text.replace(password, "***")
    text = text.strip()
    return text if len(text) <= _MAX_STDERR else "..." + text[-_MAX_STDERR:]


async def run_client(program: Path, arguments: Sequence[str], env: Mapping[str, str]) -> ClientRun:
    """Run ``program arguments`` with ``env``; stdin is closed, both outputs are captured."""
    try:
        process = await asyncio.create_subprocess_exec(
            str(program),
            *arguments,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
        )
    except OSError as exc:
        raise BackupError(f"cannot run {program}: {exc.strerror or exc}") from exc
    try:
        stdout, stderr = await process.communicate()
    except BaseException:  # cancelled: the program must not outlive the command
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return ClientRun(process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


def failure(program: Path, run: ClientRun, password: str | None) -> BackupError:
    """The ``BackupError`` for a client program that exited non-zero."""
    detail = mask(run.stderr, password) or "no message"
    return BackupError(f"{program.name} exited with code {run.returncode}: {detail}")


__all__ = [
    "DEBIAN_LAYOUT",
    "ClientRun",
    "ClientTools",
    "client_environment",
    "failure",
    "find_client_tools",
    "mask",
    "program_version",
    "run_client",
    "server_major",
]
