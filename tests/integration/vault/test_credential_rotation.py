"""Credential rotation end to end: the real service, PostgreSQL, Kafka's SASL listener and OpenBao.

Each test streams envelopes through the running service while the operator rotates a
password (``ALTER ROLE`` / the broker's ConfigCommand, then the KV write) and then the
username (a second role / SCRAM user). It checks that the service's connections move to
the new credentials (PostgreSQL: every session's user and backend start; Kafka: the
consumer's group membership and the pool's producers are new), that the old password no
longer works, that every envelope is stored exactly once, that the service exits 0, and
that no secret reached the log or the health output (the secret scan).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from pathlib import Path

import asyncpg
import hvac
import pytest
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from bao_dev_server import BaoDevServer
from conftest import WrittenSecrets
from rotation_steps import (
    create_login_role,
    delete_scram_user,
    drop_roles,
    group_members,
    kafka_accepts,
    new_password,
    renewed,
    rotations_logged,
    server_now,
    service_sessions,
    set_role_password,
    set_scram_user,
    wait_for,
    write_secret,
)
from secret_scan import find_leaks
from service_harness import ServiceProcess, ServiceTopics, encode, make_envelope

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICES_SCRIPT = REPO_ROOT / "scripts" / "services"
REFRESH_SECONDS = 2


class Streamer:
    """Sends envelopes to the store topic in small acknowledged slices until stopped."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 3) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.ids: list[str] = []
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            while not self.stopping.is_set():
                envelopes = [make_envelope({"n": len(self.ids) + i}) for i in range(10)]
                futures = [
                    await producer.send(
                        self.topic, encode(e), partition=(len(self.ids) + i) % self.partitions
                    )
                    for i, e in enumerate(envelopes)
                ]
                await asyncio.wait_for(asyncio.gather(*futures), 60)
                self.ids += [str(e.envelope_id) for e in envelopes]
                await asyncio.sleep(0.05)
        finally:
            await producer.stop()

    async def sent_more_than(self, count: int) -> bool:
        return len(self.ids) > count


async def stream_goes_on(streamer: Streamer, more: int = 50) -> None:
    sent = len(streamer.ids)
    await wait_for("the stream to go on", lambda: streamer.sent_more_than(sent + more))


def rotations(service: ServiceProcess, target: str) -> int:
    return len(rotations_logged(service.log_text(), target))


async def stored_exactly_once(db: asyncpg.Connection, ids: list[str]) -> None:
    async def all_stored() -> bool:
        return int(await db.fetchval("SELECT count(*) FROM onex_event_store")) >= len(ids)

    await wait_for(f"{len(ids)} envelopes in the event store", all_stored, within=90)
    rows = await db.fetch("SELECT envelope_id::text AS id FROM onex_event_store")
    stored = [r["id"] for r in rows]
    assert len(stored) == len(set(stored)), "an envelope was stored twice"
    assert sorted(stored) == sorted(ids), "lost or unexpected envelopes"


async def scan_outputs(service: ServiceProcess, secrets: dict[str, str]) -> None:
    _, detailed = await service.get_json("/health/detailed")
    _, health = await service.get_json("/health")
    outputs = [("health detailed", json.dumps(detailed)), ("health", json.dumps(health))]
    code, _ = service.stop()
    assert code == 0, service.log_tail()
    outputs.append(("service log", service.log_text()))
    leaks = find_leaks(secrets, outputs)
    assert not leaks, "\n".join(leaks)


# It reads every session of the service's application_name on the shared database: a service
# of a test running in parallel would show up there, so scripts/test runs it alone.
@pytest.mark.exclusive
async def test_postgres_password_then_user_rotate_while_events_stream(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    bao: BaoDevServer,
    root_client: hvac.Client,
    secrets_written: WrittenSecrets,
    token_file: Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    first_role, second_role = f"onex_rot_a_{tag}", f"onex_rot_b_{tag}"
    passwords = {name: new_password(name.replace("_", "-")) for name in ("pg-v1", "pg-v2", "pg-v3")}
    service_role, database = service.env["POSTGRES_USER"], service.env["POSTGRES_DATABASE"]
    create_login_role(first_role, passwords["pg-v1"], member_of=service_role)
    try:
        write_secret(root_client, secrets_written.postgres_path, first_role, passwords["pg-v1"])
        service.env.pop("POSTGRES_PASSWORD")
        service.env.update(
            {
                "VAULT_ADDR": bao.address,
                "VAULT_TOKEN_FILE": str(token_file),
                "VAULT_POSTGRES_PATH": secrets_written.postgres_path,
                "VAULT_REFRESH_INTERVAL": str(REFRESH_SECONDS),
            }
        )
        service.start()
        await service.wait_ready()
        assert {s.user for s in service_sessions(database)} == {first_role}

        streamer = Streamer(kafka_bootstrap, service_topics.store)
        streaming = asyncio.create_task(streamer.run())
        await wait_for("the stream to start", lambda: streamer.sent_more_than(50))

        # 1. The password: ALTER ROLE, then the KV write.
        altered_at = set_role_password(first_role, passwords["pg-v2"])
        write_secret(root_client, secrets_written.postgres_path, first_role, passwords["pg-v2"])
        await wait_for(
            "every session of the service to log in with the new password",
            lambda: renewed(service_sessions(database), user=first_role, since=altered_at),
        )
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(
                host=service.env["POSTGRES_HOST"],
                port=int(service.env["POSTGRES_PORT"]),
                user=first_role,
                password=passwords["pg-v1"],
                database=database,
            )

        # 2. The username: a second role, then the KV write; the first one is then locked.
        create_login_role(second_role, passwords["pg-v3"], member_of=service_role)
        written_at = server_now()
        write_secret(root_client, secrets_written.postgres_path, second_role, passwords["pg-v3"])
        await wait_for(
            "every session of the service to be the new role's",
            lambda: renewed(service_sessions(database), user=second_role, since=written_at),
        )
        set_role_password(first_role, new_password("pg-locked"))  # the old user is out of use
        await stream_goes_on(streamer)

        streamer.stopping.set()
        await asyncio.wait_for(streaming, 60)  # bounded: a stuck stream fails, never hangs the suite
        await stored_exactly_once(db, streamer.ids)
        assert rotations(service, "postgres") == 2
        assert {s.user for s in service_sessions(database)} == {second_role}
        await scan_outputs(service, {**passwords, "root token": bao.root_token})
    finally:
        service.kill()
        drop_roles(first_role, second_role)


async def producer_ids(service: ServiceProcess) -> set[str]:
    """The ids of the pool's producers, as ``/health/detailed`` lists them."""
    _, detailed = await service.get_json("/health/detailed")
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("producer_id"), str):
                found.add(node["producer_id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(detailed)
    return found


async def test_kafka_password_then_user_rotate_while_events_stream(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    bao: BaoDevServer,
    root_client: hvac.Client,
    secrets_written: WrittenSecrets,
    token_file: Path,
) -> None:
    sasl_bootstrap = os.environ.get("ONEX_SERVICES_KAFKA_SASL_BOOTSTRAP")
    assert sasl_bootstrap, 'ONEX_SERVICES_KAFKA_SASL_BOOTSTRAP is not set; eval "$(scripts/services env)"'
    tag = uuid.uuid4().hex[:8]
    first_user, second_user = f"onex-rot-a-{tag}", f"onex-rot-b-{tag}"
    passwords = {name: new_password(name) for name in ("kafka-v1", "kafka-v2", "kafka-v3")}
    set_scram_user(SERVICES_SCRIPT, first_user, passwords["kafka-v1"])
    try:
        write_secret(root_client, secrets_written.kafka_path, first_user, passwords["kafka-v1"])
        service.env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": sasl_bootstrap,
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
                "VAULT_ADDR": bao.address,
                "VAULT_TOKEN_FILE": str(token_file),
                "VAULT_KAFKA_PATH": secrets_written.kafka_path,
                "VAULT_REFRESH_INTERVAL": str(REFRESH_SECONDS),
            }
        )
        service.start()
        await service.wait_ready()
        group = service.env["KAFKA_CONSUMER_GROUP"]
        members_before = await group_members(kafka_bootstrap, group)
        producers_before = await producer_ids(service)
        assert members_before and producers_before

        streamer = Streamer(kafka_bootstrap, service_topics.store)
        streaming = asyncio.create_task(streamer.run())
        await wait_for("the stream to start", lambda: streamer.sent_more_than(50))

        # 1. The password: the broker's ConfigCommand, then the KV write.
        set_scram_user(SERVICES_SCRIPT, first_user, passwords["kafka-v2"])
        write_secret(root_client, secrets_written.kafka_path, first_user, passwords["kafka-v2"])
        await wait_for("the Kafka clients to be rebuilt", lambda: rotations(service, "kafka") == 1)
        assert not await kafka_accepts(sasl_bootstrap, first_user, passwords["kafka-v1"])
        # Joined and connected after the broker stopped taking the old password.
        members_after = await group_members(kafka_bootstrap, group)
        producers_after = await producer_ids(service)
        assert members_after and not members_after & members_before
        assert producers_after and not producers_after & producers_before

        # 2. The username: a second SCRAM user, the KV write, then the first user is deleted.
        set_scram_user(SERVICES_SCRIPT, second_user, passwords["kafka-v3"])
        write_secret(root_client, secrets_written.kafka_path, second_user, passwords["kafka-v3"])
        await wait_for("the Kafka clients to be rebuilt again", lambda: rotations(service, "kafka") == 2)
        delete_scram_user(SERVICES_SCRIPT, first_user)
        assert not await kafka_accepts(sasl_bootstrap, first_user, passwords["kafka-v2"])
        assert not (await group_members(kafka_bootstrap, group)) & members_after
        assert not (await producer_ids(service)) & producers_after
        await stream_goes_on(streamer)

        streamer.stopping.set()
        await asyncio.wait_for(streaming, 60)  # bounded: a stuck stream fails, never hangs the suite
        await stored_exactly_once(db, streamer.ids)
        status, health = await service.get_json("/health")
        assert status == 200, health
        await scan_outputs(service, {**passwords, "root token": bao.root_token})
    finally:
        service.kill()
        for user in (first_user, second_user):
            with contextlib.suppress(RuntimeError):  # the first one was deleted by the test
                delete_scram_user(SERVICES_SCRIPT, user)
