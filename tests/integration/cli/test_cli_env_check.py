"""``onex-infra env check`` against the real servers, a closed port and a tiny OTLP receiver."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from cli_helpers import closed_port, run_cli


def fail_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("FAIL")]


async def test_all_good_passes_with_exit_0(migrated_env: dict[str, str]) -> None:
    result = await run_cli("env", "check", env=migrated_env)
    assert result.code == 0, result.text
    assert fail_lines(result.out) == []
    assert "PostgreSQL 1" in result.out  # "PostgreSQL 15.x" (version of the server)
    assert f"schema {migrated_env['POSTGRES_SCHEMA']!r} at version" in result.out
    assert "1 broker(s)" in result.out
    assert result.out.splitlines()[-1].startswith("env check: all checks passed")
    assert migrated_env["POSTGRES_PASSWORD"] not in result.text


async def test_json_report(migrated_env: dict[str, str]) -> None:
    result = await run_cli("env", "check", "--json", env=migrated_env)
    assert result.code == 0, result.text
    report = json.loads(result.out)
    assert report["ok"] is True and report["problems"] == 0
    by_group = {(c["group"], c["name"]): c["status"] for c in report["checks"]}
    assert by_group[("postgres", "connect")] == "pass"
    assert by_group[("postgres", "schema")] == "pass"
    assert by_group[("kafka", "metadata")] == "pass"
    assert by_group[("otlp", "check")] == "skip"
    assert migrated_env["POSTGRES_PASSWORD"] not in result.out


async def test_a_missing_variable_is_one_line_and_the_rest_is_still_checked(
    migrated_env: dict[str, str],
) -> None:
    env = {k: v for k, v in migrated_env.items() if k != "POSTGRES_HOST"}
    result = await run_cli("env", "check", env=env)
    assert result.code == 1
    [failed] = fail_lines(result.out)
    assert failed.split()[:2] == ["FAIL", "POSTGRES_HOST"]
    assert failed.endswith("POSTGRES_HOST is required but not set")
    assert "hint: PostgreSQL server host" in result.out
    assert "skip  check" in result.out  # PostgreSQL not tried
    assert "1 broker(s)" in result.out  # Kafka still checked
    assert result.out.splitlines()[-1].startswith("env check: 1 problem(s)")


async def test_servers_down_fail_fast_with_one_line_each(migrated_env: dict[str, str]) -> None:
    env = {
        **migrated_env,
        "POSTGRES_PORT": str(closed_port()),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
    }
    started = time.monotonic()
    result = await run_cli("env", "check", "--timeout", "3", env=env)
    assert time.monotonic() - started < 30
    assert result.code == 1
    failed = fail_lines(result.out)
    assert len(failed) == 2, result.out
    assert "connect" in failed[0] and "unavailable" in failed[0]
    assert "connect" in failed[1] and "connection refused" in failed[1]
    assert result.out.count("hint: is the server running") == 1
    assert result.out.count("hint: is the broker running") == 1
    assert migrated_env["POSTGRES_PASSWORD"] not in result.text


async def test_an_unmigrated_schema_names_the_fix(cli_env: dict[str, str]) -> None:
    result = await run_cli("env", "check", env=cli_env)
    assert result.code == 1
    [failed] = fail_lines(result.out)
    assert f"schema {cli_env['POSTGRES_SCHEMA']!r} has no service tables" in failed
    assert "hint: run `onex-infra db migrate`" in result.out


@pytest.fixture
async def otlp_url() -> AsyncIterator[str]:
    """A minimal OTLP/HTTP receiver that accepts trace exports."""

    async def traces(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_otlp_endpoint_reachable_and_not(migrated_env: dict[str, str], otlp_url: str) -> None:
    good = await run_cli("env", "check", env={**migrated_env, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url})
    assert good.code == 0, good.text
    assert f"{otlp_url}/v1/traces (http/protobuf) answered HTTP 200" in good.out
    wrong_path = await run_cli(
        "env", "check", env={**migrated_env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"{otlp_url}/nothing-here"}
    )
    assert wrong_path.code == 1
    assert "no OTLP traces receiver" in wrong_path.out
    down = await run_cli(
        "env",
        "check",
        env={**migrated_env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port()}"},
    )
    assert down.code == 1
    [failed] = fail_lines(down.out)
    assert "connection refused" in failed
