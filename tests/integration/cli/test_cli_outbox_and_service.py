"""``outbox status`` on a real schema; ``health`` and ``breaker reset`` against a running service."""

from __future__ import annotations

import json

import asyncpg
from cli_helpers import ADMIN_TOKEN, closed_port, run_cli
from service_harness import ServiceProcess


async def test_outbox_status_counts_and_dead_letters(migrated_env: dict[str, str], postgres_dsn: str) -> None:
    empty = await run_cli("outbox", "status", env=migrated_env)
    assert empty.code == 0, empty.text
    assert "  pending             0" in empty.out

    schema = migrated_env["POSTGRES_SCHEMA"]
    conn = await asyncpg.connect(postgres_dsn, server_settings={"search_path": schema})
    try:
        await conn.execute(
            """
            INSERT INTO onex_outbox (topic, payload, status, attempts, last_error, created_at) VALUES
              ('onex.evt.a.b.v1', 'x', 'pending', 0, NULL, now() - interval '5 minutes'),
              ('onex.evt.a.b.v1', 'x', 'pending', 0, NULL, now()),
              ('onex.evt.a.b.v1', 'x', 'published', 1, NULL, now()),
              ('onex.evt.a.c.v1', 'x', 'dead_letter', 5, 'MessageSizeTooLargeError', now()),
              ('onex.evt.a.d.v1', 'x', 'dead_letter', 5, 'KafkaTimeoutError', now())
            """
        )
    finally:
        await conn.close()

    text = await run_cli("outbox", "status", "--limit", "1", env=migrated_env)
    assert text.code == 1  # parked rows are a problem
    assert f"outbox in schema {schema!r}" in text.out
    assert "  pending             2   oldest 5m" in text.out
    assert "  dead_letter         2" in text.out
    assert "dead-letter rows (first 1 of 2):" in text.out
    assert "last_error: MessageSizeTooLargeError" in text.out
    assert "KafkaTimeoutError" not in text.out

    document = json.loads((await run_cli("outbox", "status", "--json", env=migrated_env)).out)
    assert document["counts"] == {"pending": 2, "published": 1, "dead_letter": 2}
    assert 299 <= document["oldest_pending_age_seconds"] < 600
    assert [row["last_error"] for row in document["dead_letter"]] == [
        "MessageSizeTooLargeError",
        "KafkaTimeoutError",
    ]


async def test_outbox_status_on_an_unmigrated_schema_or_a_missing_variable(cli_env: dict[str, str]) -> None:
    unmigrated = await run_cli("outbox", "status", env=cli_env)
    assert unmigrated.code == 1
    assert "has no onex_outbox table: run `onex-infra db migrate`" in unmigrated.err
    unset = await run_cli("outbox", "status", env={k: v for k, v in cli_env.items() if k != "POSTGRES_USER"})
    assert unset.code == 3
    assert "POSTGRES_USER" in unset.err


async def test_health_of_a_running_service(service: ServiceProcess) -> None:
    env = service.env
    readable = await run_cli("health", env=env)  # the URL comes from HEALTH_CHECK_PORT
    assert readable.code == 0, readable.text
    first = readable.out.splitlines()[0]
    assert first.startswith(f"service {service.base_url}: healthy (environment development")
    assert "Circuit breakers" in readable.out
    assert "  postgres   closed" in readable.out and "  kafka      closed" in readable.out

    passthrough = await run_cli("health", "--json", "--url", service.base_url, env=env)
    assert passthrough.code == 0
    body = json.loads(passthrough.out)
    assert body["overall"] == "healthy"
    assert {b["name"] for b in body["circuit_breaker_metrics"]} == {"postgres", "kafka"}

    down = await run_cli("health", "--url", f"http://127.0.0.1:{closed_port()}", env=env)
    assert down.code == 1
    assert "connection refused" in down.err


async def test_breaker_reset_with_and_without_the_token(service: ServiceProcess) -> None:
    env = {**service.env, "ONEX_ADMIN_TOKEN": ADMIN_TOKEN}
    url = service.base_url
    reset = await run_cli("breaker", "reset", "kafka", "--url", url, env=env)
    assert reset.code == 0, reset.text
    assert reset.out == "breaker 'kafka' reset: now closed\n"
    as_json = json.loads((await run_cli("breaker", "reset", "postgres", "--json", "--url", url, env=env)).out)
    assert as_json == {"reset": True, "breaker": "postgres", "state": "closed"}

    wrong = await run_cli("breaker", "reset", "kafka", "--url", url, env={**env, "ONEX_ADMIN_TOKEN": "nope"})
    assert wrong.code == 1
    assert "refused the token (HTTP 401)" in wrong.err

    unset = await run_cli(
        "breaker",
        "reset",
        "kafka",
        "--url",
        url,
        env={k: v for k, v in env.items() if k != "ONEX_ADMIN_TOKEN"},
    )
    assert unset.code == 3
    assert "ONEX_ADMIN_TOKEN is not set" in unset.err

    unknown = await run_cli("breaker", "reset", "redis", "--url", url, env=env)
    assert unknown.code == 1
    assert "no breaker named 'redis' (breakers: postgres, kafka)" in unknown.err
    assert ADMIN_TOKEN not in reset.text + wrong.text + unset.text + unknown.text
