"""The operator's side of a credential rotation, on the servers of ``scripts/services``.

Used by the rotation tests and by the ``credential-rotation`` fault scenario:

- PostgreSQL (as the cluster's superuser, through ``POSTGRES_ADMIN_COMMAND``): create a
  login role that inherits the service role's privileges, ``ALTER ROLE ... PASSWORD``,
  list the service's sessions (user and backend start) from ``pg_stat_activity``;
- Kafka: set or delete a SCRAM-SHA-256 user (``scripts/services kafka-scram-user``, the
  broker's ConfigCommand), and check whether the broker accepts a username/password;
- the KV write that publishes the new credentials to the service.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import hvac
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from pydantic import SecretStr

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.kafka_producer_adapter import raise_if_rejected
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig

SERVICE_APPLICATION_NAME = "omnibase-infra"
"""``application_name`` of the service's PostgreSQL sessions."""


def new_password(prefix: str) -> str:
    """A distinctive random secret (``<prefix>-<24 random characters>``) the secret scan can find."""
    return f"{prefix}-{secrets.token_urlsafe(18)}"


def admin_sql(sql: str) -> str:
    """Run ``sql`` as the cluster's superuser (``POSTGRES_ADMIN_COMMAND`` of ``scripts/services env``)."""
    command = os.environ.get("POSTGRES_ADMIN_COMMAND", "").split()
    if not command:
        raise RuntimeError('POSTGRES_ADMIN_COMMAND is not set; eval "$(scripts/services env)"')
    done = subprocess.run(
        [*command, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"admin SQL failed: {done.stderr.strip()}")
    return done.stdout


def create_login_role(name: str, password: str, *, member_of: str) -> None:
    """A login role with ``password`` that inherits ``member_of``'s privileges (the service's tables)."""
    admin_sql(f'CREATE ROLE "{name}" LOGIN INHERIT PASSWORD \'{password}\' IN ROLE "{member_of}"')


def set_role_password(name: str, password: str) -> float:
    """``ALTER ROLE name PASSWORD``; returns the server's clock (epoch seconds) just before it."""
    out = admin_sql(
        f"SELECT extract(epoch FROM clock_timestamp()); ALTER ROLE \"{name}\" PASSWORD '{password}'"
    )
    return float(out.split()[0])


def server_now() -> float:
    return float(admin_sql("SELECT extract(epoch FROM clock_timestamp())").strip())


def drop_roles(*names: str) -> None:
    for name in names:
        admin_sql(f'DROP ROLE IF EXISTS "{name}"')


@dataclass(frozen=True)
class Session:
    pid: int
    user: str
    backend_start: float  # epoch seconds, server clock


def service_sessions(database: str) -> list[Session]:
    """The service's sessions on ``database`` (by ``application_name``), from ``pg_stat_activity``."""
    out = admin_sql(
        "SELECT pid, usename, extract(epoch FROM backend_start) FROM pg_stat_activity "
        f"WHERE application_name = '{SERVICE_APPLICATION_NAME}' AND datname = '{database}'"
    )
    sessions = []
    for line in out.splitlines():
        pid, user, started = line.split("|")
        sessions.append(Session(int(pid), user, float(started)))
    return sessions


def renewed(sessions: list[Session], *, user: str, since: float) -> bool:
    """True when every session is ``user``'s and started after ``since`` (and there is one)."""
    return bool(sessions) and all(s.user == user and s.backend_start > since for s in sessions)


async def wait_for(what: str, check: object, within: float = 60.0, every: float = 0.2) -> float:
    """Poll the sync or async ``check`` until true; the seconds it took (AssertionError after ``within``)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        outcome = check()  # type: ignore[operator]
        if asyncio.iscoroutine(outcome):
            outcome = await outcome
        if outcome:
            return loop.time() - started
        if loop.time() - started > within:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(every)


def set_scram_user(services_script: Path, name: str, password: str) -> None:
    """Create the SCRAM-SHA-256 user ``name`` or change its password (the broker's ConfigCommand)."""
    _services(services_script, ["kafka-scram-user", name], stdin=password + "\n")


def delete_scram_user(services_script: Path, name: str) -> None:
    _services(services_script, ["kafka-scram-user", "--delete", name])


def _services(script: Path, args: list[str], *, stdin: str | None = None) -> None:
    done = subprocess.run(
        [str(script), *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/services {args[0]} failed: {done.stderr.strip()}")


async def kafka_accepts(sasl_bootstrap: str, username: str, password: str) -> bool:
    """Whether the broker's SASL listener accepts ``username``/``password`` (SCRAM-SHA-256)."""
    security = ModelKafkaSecurityConfig(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username=username,
        sasl_password=SecretStr(password),
    )
    try:
        await raise_if_rejected(
            sasl_bootstrap, security, client_id="onex-rotation-check", request_timeout_ms=10_000
        )
    except ConfigurationError:
        return False
    return True


async def group_members(bootstrap: str, group: str) -> set[str]:
    """The member ids of consumer group ``group`` (a rebuilt consumer joins under a new one)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    members: set[str] = set()
    for entry in described:
        for group_entry in getattr(entry, "groups", []) or []:
            members |= {m[0] for m in group_entry[5]} if len(group_entry) > 5 else set()
    return members


def rotations_logged(log: str, target: str) -> list[datetime]:
    """When the service logged ``credentials rotated`` for ``target`` (its JSON log lines)."""
    moments = []
    for line in log.splitlines():
        if '"credentials rotated"' not in line:
            continue
        entry = json.loads(line)
        if entry.get("message") == "credentials rotated" and entry.get("target") == target:
            moments.append(datetime.fromisoformat(entry["timestamp"]))
    return moments


def write_secret(client: hvac.Client, path: str, username: str, password: str) -> int:
    """Write ``{username, password}`` at ``secret/<path>``; the new KV version."""
    answer = client.secrets.kv.v2.create_or_update_secret(
        path=path, secret={"username": username, "password": password}, mount_point="secret"
    )
    return int(answer["data"]["version"])


__all__ = [
    "SERVICE_APPLICATION_NAME",
    "Session",
    "admin_sql",
    "create_login_role",
    "delete_scram_user",
    "drop_roles",
    "group_members",
    "kafka_accepts",
    "new_password",
    "renewed",
    "rotations_logged",
    "server_now",
    "service_sessions",
    "set_role_password",
    "set_scram_user",
    "wait_for",
    "write_secret",
]
