"""(7) Credentials rotated mid-stream: the PostgreSQL password, then the Kafka SCRAM password.

An OpenBao dev server holds the service's credentials. The service logs in to PostgreSQL
as a role of its own and to the broker's SASL listener (SCRAM-SHA-256) as a user of its
own, both read from the KV store (``VAULT_REFRESH_INTERVAL`` of a few seconds). Mid-stream
the operator rotates the PostgreSQL password (``ALTER ROLE``, then the KV write), then the
Kafka one (the broker's ConfigCommand, then the KV write); a full run does it twice.

Checks, besides nothing lost or duplicated: after each rotation, within the refresh
interval plus one check period and the renewal itself, every PostgreSQL session of the
service started after the ``ALTER ROLE`` (``pg_stat_activity``), or the consumer rejoined
its group under a new member id with producers built after the ConfigCommand; the old
password is refused; no password and no token appear in the service's log or health output.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import datetime

import asyncpg
import hvac
from bao_dev_server import start_bao_dev_server
from rotation_steps import (
    create_login_role,
    delete_scram_user,
    drop_roles,
    group_members,
    kafka_accepts,
    new_password,
    renewed,
    rotations_logged,
    service_sessions,
    set_role_password,
    set_scram_user,
    wait_for,
    write_secret,
)
from secret_scan import find_leaks
from service_harness import ServiceProcess

from fault_injection.results import FaultTiming, ScenarioResult
from fault_injection.streaming import RunContext, StreamPlan, StreamRun, random_moments, run_streamed

TITLE = "PostgreSQL then Kafka SCRAM password rotated mid-stream (OpenBao KV, SASL listener)"
REFRESH_SECONDS = 3.0
CHECK_SECONDS = 1.0  # the service compares credentials this often (runtime.service)
RENEWAL_GRACE_SECONDS = 2.0  # the renewal itself: a probe login, reopening the pool, a group rejoin


class Rotation:
    """The scenario's credentials, store and operator steps."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        tag = uuid.uuid4().hex[:8]
        self.role = f"onex_rot_{tag}"
        self.user = f"onex-rot-{tag}"
        self.pg_path = f"faults-{tag}/postgres"
        self.kafka_path = f"faults-{tag}/kafka"
        self.passwords: dict[str, str] = {}
        self.pg_password = self._new("pg")
        self.kafka_password = self._new("kafka")
        self.database = os.environ["POSTGRES_DATABASE"]
        self.sasl_bootstrap = os.environ.get("ONEX_SERVICES_KAFKA_SASL_BOOTSTRAP", "")
        self.bao = start_bao_dev_server(ctx.run_dir / f"bao-{tag}")
        self.token_file = ctx.run_dir / f"bao-{tag}" / "token"
        self.token_file.write_text(self.bao.root_token + "\n", encoding="utf-8")
        self.token_file.chmod(0o600)
        self.store = hvac.Client(url=self.bao.address, token=self.bao.root_token)
        self.allowed_s = REFRESH_SECONDS + CHECK_SECONDS + RENEWAL_GRACE_SECONDS

    def _new(self, kind: str) -> str:
        password = new_password(f"{kind}-rot")
        self.passwords[f"{kind} v{len(self.passwords) + 1}"] = password
        return password

    async def create(self) -> None:
        if not self.sasl_bootstrap:
            raise RuntimeError("ONEX_SERVICES_KAFKA_SASL_BOOTSTRAP is not set (run through scripts/faults)")
        create_login_role(self.role, self.pg_password, member_of=os.environ["POSTGRES_USER"])
        script = self.ctx.servers.services_script
        await asyncio.to_thread(set_scram_user, script, self.user, self.kafka_password)
        write_secret(self.store, self.pg_path, self.role, self.pg_password)
        write_secret(self.store, self.kafka_path, self.user, self.kafka_password)

    async def configure(self, process: ServiceProcess) -> None:
        """The service reads both credentials from the store and talks SASL to the broker."""
        process.env.pop("POSTGRES_PASSWORD", None)
        process.env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.sasl_bootstrap,
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
                "VAULT_ADDR": self.bao.address,
                "VAULT_TOKEN_FILE": str(self.token_file),
                "VAULT_POSTGRES_PATH": self.pg_path,
                "VAULT_KAFKA_PATH": self.kafka_path,
                "VAULT_REFRESH_INTERVAL": f"{REFRESH_SECONDS:g}",
            }
        )

    async def rotate_postgres(self, run: StreamRun, number: int) -> None:
        old, new = self.pg_password, self._new("pg")
        started = time.time()
        altered_at = await asyncio.to_thread(set_role_password, self.role, new)
        write_secret(self.store, self.pg_path, self.role, new)
        written = time.time()
        self.pg_password = new
        renew_s = await wait_for(
            "every PostgreSQL session of the service to use the new password",
            lambda: renewed(service_sessions(self.database), user=self.role, since=altered_at),
            within=self.allowed_s + 60,
        )
        self._record(run, f"postgres password rotation {number}", started, written, renew_s, "sessions")
        refused = not await self._postgres_accepts(old)
        run.result.check(f"postgres rotation {number}: the old password is refused", refused)

    async def rotate_kafka(self, run: StreamRun, number: int) -> None:
        process = run.services[0]
        group = run.workspace.group
        members_before = await group_members(self.ctx.servers.bootstrap, group)
        rotated_before = len(rotations_logged(process.log_text(), "kafka"))
        old, new = self.kafka_password, self._new("kafka")
        started = time.time()
        await asyncio.to_thread(set_scram_user, self.ctx.servers.services_script, self.user, new)
        write_secret(self.store, self.kafka_path, self.user, new)
        written = time.time()
        self.kafka_password = new

        def rotated() -> list[datetime]:
            return rotations_logged(process.log_text(), "kafka")[rotated_before:]

        await wait_for("the Kafka clients to be rebuilt", rotated, within=self.allowed_s + 60)
        renew_s = rotated()[0].timestamp() - written
        self._record(run, f"kafka password rotation {number}", started, written, renew_s, "clients")
        members_after = await group_members(self.ctx.servers.bootstrap, group)
        run.result.check(
            f"kafka rotation {number}: the consumer rejoined under a new member id",
            bool(members_after) and not members_after & members_before,
            f"{len(members_before)} member(s) before, {len(members_after)} after",
        )
        refused = not await kafka_accepts(self.sasl_bootstrap, self.user, old)
        run.result.check(f"kafka rotation {number}: the old password is refused", refused)

    def _record(
        self, run: StreamRun, kind: str, started: float, written: float, renew_s: float, what: str
    ) -> None:
        run.record(
            FaultTiming(
                kind,
                started,
                written,
                detail=f"{what} renewed {renew_s:.1f} s after the KV write (refresh {REFRESH_SECONDS:g} s)",
            )
        )
        target = kind.split(maxsplit=1)[0]
        run.result.figures.setdefault(f"{target}_renewed_s", []).append(round(renew_s, 2))
        run.result.check(
            f"{kind}: renewed within the refresh interval (+{CHECK_SECONDS:g} s check, "
            f"+{RENEWAL_GRACE_SECONDS:g} s renewal)",
            renew_s <= self.allowed_s,
            f"{renew_s:.1f} s",
        )

    async def _postgres_accepts(self, password: str) -> bool:
        try:
            conn = await asyncpg.connect(
                host=os.environ["POSTGRES_HOST"],
                port=int(os.environ["POSTGRES_PORT"]),
                user=self.role,
                password=password,
                database=self.database,
                timeout=10,
            )
        except asyncpg.InvalidPasswordError:
            return False
        await conn.close()
        return True

    async def scan(self, run: StreamRun) -> None:
        outputs: list[tuple[str, str]] = []
        for process in run.services:
            for path in ("/health", "/health/detailed"):
                _, body = await process.get_json(path)
                outputs.append((f"{process.log_path.name} {path}", str(body)))
            outputs.append((process.log_path.name, process.log_text()))
        secrets = {**self.passwords, "store token": self.bao.root_token}
        leaks = find_leaks(secrets, outputs)
        run.result.check("no password or token in the log or health output", not leaks, "; ".join(leaks))

    def remove(self) -> None:
        self.bao.stop()
        drop_roles(self.role)
        delete_scram_user(self.ctx.servers.services_script, self.user)


async def run_credential_rotation(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("credential-rotation", TITLE)
    plan = StreamPlan(count=6_000, rate=250) if ctx.quick else StreamPlan(count=30_000, rate=400)
    rounds = 1 if ctx.quick else 2
    started = time.monotonic()
    try:
        rotation = await asyncio.to_thread(Rotation, ctx)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    try:
        await rotation.create()

        async def inject(run: StreamRun) -> None:
            for index, moment in enumerate(random_moments(ctx.rng, 2 * rounds, 0.1, 0.7)):
                await run.stream.reached(moment)
                if index % 2 == 0:
                    await rotation.rotate_postgres(run, index // 2 + 1)
                else:
                    await rotation.rotate_kafka(run, index // 2 + 1)

        async def verify(run: StreamRun) -> None:
            sessions = service_sessions(rotation.database)
            run.result.check(
                "at the end every PostgreSQL session is the rotated role's",
                bool(sessions) and {s.user for s in sessions} == {rotation.role},
                f"{len(sessions)} sessions",
            )
            await rotation.scan(run)

        await run_streamed(ctx, result, plan, inject, verify=verify, configure=rotation.configure)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            await asyncio.to_thread(rotation.remove)
        except Exception as exc:
            result.check("the scenario's role, SCRAM user and store removed", False, str(exc))
        result.duration_s = time.monotonic() - started
    return result


__all__ = ["run_credential_rotation"]
