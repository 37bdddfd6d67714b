"""The running service takes its PostgreSQL credentials from the credential store only."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import hvac
from bao_dev_server import BaoDevServer
from conftest import WrittenSecrets
from service_harness import ServiceProcess, ServiceTopics, encode, make_envelope, produce


async def test_service_runs_on_vault_credentials_and_never_prints_them(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    bao: BaoDevServer,
    root_client: hvac.Client,
    secrets_written: WrittenSecrets,
    token_file: Path,
) -> None:
    real_password = service.env["POSTGRES_PASSWORD"]
    secrets_written.write_postgres(root_client, real_password, username=service.env["POSTGRES_USER"])
    service.env.pop("POSTGRES_PASSWORD")
    service.env.update(
        {
            "VAULT_ADDR": bao.address,
            "VAULT_TOKEN_FILE": str(token_file),
            "VAULT_POSTGRES_PATH": secrets_written.postgres_path,
        }
    )
    envelopes = [make_envelope({"n": i}) for i in range(20)]
    await produce(kafka_bootstrap, service_topics.store, [encode(e) for e in envelopes], partitions=3)
    service.start()
    await service.wait_ready()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and await db.fetchval("SELECT count(*) FROM onex_event_store") < 20:
        await asyncio.sleep(0.2)
    assert await db.fetchval("SELECT count(*) FROM onex_event_store") == 20
    _, detailed = await service.get_json("/health/detailed")
    code, _ = service.stop()
    assert code == 0
    log = service.log_text()
    assert '"vault_adapter"' in log  # hosted among the nodes
    for secret in (real_password, bao.root_token):
        assert secret not in log
        assert secret not in str(detailed)
