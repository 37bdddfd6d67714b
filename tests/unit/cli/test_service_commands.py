"""``health`` and ``breaker reset`` against a fake HTTP seam: rendering, exit codes, the token."""

from __future__ import annotations

import argparse
import copy
import io
import json
from collections.abc import Mapping

import pytest

from omnibase_infra.cli.breaker_command import admin_token, run_reset
from omnibase_infra.cli.console import Console
from omnibase_infra.cli.health_command import render, run_health
from omnibase_infra.cli.http_client import HttpReply, ServiceUnreachable, default_service_url

TOKEN = "admin-t0ken-value"

# A /health/detailed body as the service sends it (trimmed producer list).
DETAILED: dict[str, object] = {
    "overall": "degraded",
    "timestamp": "2026-11-30T16:03:25.198946Z",
    "environment": "development",
    "postgres_metrics": {
        "status": "healthy",
        "connection_pool": {"size": 2, "min_size": 1, "max_size": 5, "idle_connections": 1},
        "performance": {
            "total_queries": 9,
            "failed_connections": 0,
            "reconnect_count": 1,
            "average_response_time_ms": 12.1,
        },
        "database_info": {
            "version": "PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu",
            "current_schema": "public",
            "active_connections": 3,
        },
        "error": None,
    },
    "kafka_metrics": {
        "status": "degraded",
        "brokers_reachable": True,
        "pool": {
            "total_producers": 1,
            "active_producers": 0,
            "idle_producers": 1,
            "failed_producers": 0,
            "min_pool_size": 1,
            "max_pool_size": 2,
            "total_messages_sent": 8,
            "total_messages_failed": 1,
            "average_throughput_mps": 0.5,
            "average_response_time_ms": 70.7,
        },
        "error": None,
    },
    "circuit_breaker_metrics": [
        {
            "name": "postgres",
            "state": "closed",
            "success_rate": 1.0,
            "successful_calls": 673,
            "failed_calls": 0,
            "ignored_calls": 0,
            "not_permitted_calls": 0,
            "events_queued": 0,
            "events_spilled": 0,
            "seconds_until_half_open": None,
            "transitions": 0,
        },
        {
            "name": "kafka",
            "state": "open",
            "success_rate": 0.5,
            "successful_calls": 1,
            "failed_calls": 1,
            "ignored_calls": 0,
            "not_permitted_calls": 4,
            "events_queued": 2,
            "events_spilled": 0,
            "seconds_until_half_open": 7.84,
            "transitions": 1,
        },
    ],
    "performance": {"total_connections": 1, "total_messages_processed": 13, "error_rate_percent": 41.17},
}


class FakeService:
    """Answers like the service's HTTP endpoints; records the requests."""

    def __init__(self, health: Mapping[str, object] | None = None, health_status: int = 200) -> None:
        self.health = health
        self.health_status = health_status
        self.reset_reply = HttpReply(200, json.dumps({"breaker": "kafka", "state": "closed"}))
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.down = False

    def __call__(self, method: str, url: str, headers: Mapping[str, str], timeout: float) -> HttpReply:
        self.requests.append((method, url, dict(headers)))
        if self.down:
            raise ServiceUnreachable(url, "connection refused")
        if method == "GET" and url.endswith("/health/detailed"):
            return HttpReply(
                self.health_status, json.dumps(self.health) if self.health is not None else "oops"
            )
        return self.reset_reply


def args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"url": "http://svc:8080", "json": False, "timeout": 5.0, **values})


def test_render_shows_components_breakers_and_performance() -> None:
    out = io.StringIO()
    render(Console(out, colour=False), "http://svc:8080", DETAILED)
    text = out.getvalue()
    assert text.splitlines()[0] == (
        "service http://svc:8080: degraded (environment development, at 2026-11-30T16:03:25.198946Z)"
    )
    assert "postgres   healthy    pool 2/5 connections (1 idle, min 1) | 9 queries, avg 12.1 ms" in text
    assert "PostgreSQL 15.18 (Debian 15.18-0+deb12u1) | schema public | 3 active connections" in text
    assert (
        "kafka      degraded   brokers reachable | producers 1 (0 active, 1 idle, 0 failed; pool 1-2)" in text
    )
    assert (
        "kafka      open       half-open in 7.8 s | success 50.0% | 1 ok, 1 failed, 0 ignored, 4 rejected"
        in text
    )
    assert "connections 1 | messages processed 13 | error rate 41.17%" in text
    assert "\x1b[" not in text


def test_render_colours_status_words_only_with_colour() -> None:
    out = io.StringIO()
    render(Console(out, colour=True), "http://svc:8080", DETAILED)
    assert "\x1b[31mopen\x1b[0m" in out.getvalue()


def test_render_tolerates_a_failure_body() -> None:
    out = io.StringIO()
    render(
        Console(out, colour=False),
        "u",
        {"overall": "unhealthy", "error": "health check failed", "error_id": "e1"},
    )
    assert out.getvalue().splitlines()[1] == "  health check failed (error id e1)"


@pytest.mark.parametrize(("overall", "code"), [("healthy", 0), ("degraded", 0), ("unhealthy", 1)])
def test_health_exit_code_follows_overall(
    overall: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {**copy.deepcopy(DETAILED), "overall": overall}
    assert run_health(args(), FakeService(body, 503 if overall == "unhealthy" else 200)) == code
    assert overall in capsys.readouterr().out


def test_health_json_is_the_body_as_sent(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_health(args(json=True), FakeService(DETAILED)) == 0
    assert json.loads(capsys.readouterr().out) == DETAILED


def test_health_unreachable_or_not_json_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    service = FakeService(DETAILED)
    service.down = True
    assert run_health(args(), service) == 1
    assert "cannot reach http://svc:8080/health/detailed: connection refused" in capsys.readouterr().err
    assert run_health(args(json=True), service) == 1
    assert json.loads(capsys.readouterr().out)["overall"] == "unreachable"
    assert run_health(args(), FakeService(None, 502)) == 1
    assert "answered HTTP 502 without a JSON health body" in capsys.readouterr().err


def test_default_url_follows_health_check_port() -> None:
    assert default_service_url({}) == "http://127.0.0.1:8080"
    assert default_service_url({"HEALTH_CHECK_PORT": "18080"}) == "http://127.0.0.1:18080"
    assert default_service_url({"HEALTH_CHECK_PORT": "nope"}) == "http://127.0.0.1:8080"


def test_reset_sends_the_bearer_token_and_never_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    service = FakeService(DETAILED)
    code = run_reset(args(name="kafka"), service, {"ONEX_ADMIN_TOKEN": TOKEN})
    assert code == 0
    method, url, headers = service.requests[0]
    assert (method, url) == ("POST", "http://svc:8080/admin/breakers/kafka/reset")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    captured = capsys.readouterr()
    assert captured.out == "breaker 'kafka' reset: now closed\n"
    assert TOKEN not in captured.out + captured.err


def test_reset_without_a_token_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    service = FakeService(DETAILED)
    assert run_reset(args(name="kafka"), service, {}) == 3
    assert service.requests == []
    assert "ONEX_ADMIN_TOKEN is not set" in capsys.readouterr().err


def test_reset_with_a_wrong_token_explains_the_401(capsys: pytest.CaptureFixture[str]) -> None:
    service = FakeService(DETAILED)
    service.reset_reply = HttpReply(401, '{"error": "unauthorized"}')
    assert run_reset(args(name="kafka"), service, {"ONEX_ADMIN_TOKEN": "wrong"}) == 1
    assert "refused the token (HTTP 401)" in capsys.readouterr().err


def test_reset_of_an_unknown_breaker_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    service = FakeService(DETAILED)
    service.reset_reply = HttpReply(404, '{"error": "unknown breaker"}')
    assert run_reset(args(name="redis"), service, {"ONEX_ADMIN_TOKEN": TOKEN}) == 1
    assert "no breaker named 'redis' (breakers: postgres, kafka)" in capsys.readouterr().err


def test_reset_when_the_admin_endpoint_is_disabled(capsys: pytest.CaptureFixture[str]) -> None:
    service = FakeService(DETAILED)
    service.reset_reply = HttpReply(404, '{"error": "Not Found"}')
    assert run_reset(args(name="kafka", json=True), service, {"ONEX_ADMIN_TOKEN": TOKEN}) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["http_status"] == 404
    assert "started with ONEX_ADMIN_TOKEN set" in captured.err


def test_admin_token_file_wins_and_is_stripped(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "token"  # type: ignore[operator]
    path.write_text(TOKEN + "\n")
    assert admin_token({"ONEX_ADMIN_TOKEN_FILE": str(path), "ONEX_ADMIN_TOKEN": "other"}) == TOKEN
