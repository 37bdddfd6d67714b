"""Debian's Prometheus scrapes a HealthServer with monitoring/prometheus.yml and finds every metric.

The configuration is derived from ``monitoring/prometheus.yml``: the target is replaced by
the HealthServer started here (its PROMETHEUS_METRICS_PORT site, on an ephemeral port), the
intervals are shortened, and the rule file is loaded as is. The test then checks through
Prometheus's HTTP API that every ``omnibase_*`` name used in alerts.yml and in the Grafana
dashboard exists, that every dashboard expression parses and evaluates, and that every alert
rule evaluates without error.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client import CollectorRegistry

from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition
from omnibase_infra.models.model_health import (
    InfrastructureHealthMetrics,
    ModelCircuitBreakerMetrics,
    ModelPoolSnapshot,
    ModelPostgresHealth,
    ModelQueryPerformance,
)
from omnibase_infra.observability.health import evaluate_readiness
from omnibase_infra.observability.http_server import HealthServer, build_health_app
from omnibase_infra.observability.metrics import InfraMetrics

MONITORING = Path(__file__).resolve().parents[3] / "monitoring"
METRIC_NAME = re.compile(r"\bomnibase_[a-z_]+\b")
JOB = "omnibase-infrastructure"


def _health() -> InfrastructureHealthMetrics:
    return InfrastructureHealthMetrics(
        overall_status="degraded",
        timestamp=datetime.now(UTC),
        environment="staging",
        postgres_healthy=True,
        kafka_healthy=False,
        circuit_breaker_healthy=False,
        total_connections=4,
        total_messages_processed=10,
        total_events_queued=2,
        error_rate_percent=1.5,
        avg_db_response_time_ms=3.2,
        avg_kafka_throughput_mps=0.0,
        circuit_breaker_success_rate=0.5,
        postgres_metrics=ModelPostgresHealth(
            status="healthy",
            connection_pool=ModelPoolSnapshot(size=4, min_size=2, max_size=10, idle_connections=1),
            performance=ModelQueryPerformance(
                total_queries=10, failed_connections=0, reconnect_count=1, average_response_time_ms=3.2
            ),
        ),
        circuit_breaker_metrics=[
            ModelCircuitBreakerMetrics(
                name="kafka",
                state="open",
                failure_count=3,
                successful_calls=1,
                failed_calls=3,
                ignored_calls=0,
                not_permitted_calls=2,
                success_rate=0.25,
                events_queued=2,
                events_spilled=0,
                transitions=1,
            )
        ],
    )


class StaticProvider:
    async def health(self) -> InfrastructureHealthMetrics:
        return _health()

    async def readiness(self) -> tuple[bool, list[str]]:
        return evaluate_readiness(_health(), database_pool_ready=True, consumer_ready=True)


def populated_metrics() -> InfraMetrics:
    """Every metric the service exports, with at least one sample each."""
    metrics = InfraMetrics(CollectorRegistry(), "staging")
    metrics.update_from_health(_health())
    metrics.on_breaker_transition(
        ModelCircuitBreakerTransition(
            name="kafka",
            from_state="closed",
            to_state="open",
            reason="failure_threshold_reached",
            at=datetime.now(UTC),
        )
    )
    topic = "onex.evt.test.scrape.v1"
    metrics.count_messages_processed("event_store", 5)
    metrics.observe_db_operation("COPY", 0.01)
    metrics.observe_kafka_publish(topic, 0.002)
    metrics.observe_batch("event_store", 5)
    metrics.set_consumer_lag(topic, 0, 3)
    metrics.count_dlq_record(topic, "decode")
    metrics.set_outbox_pending(1)
    metrics.observe_span(f"send {topic}", "producer", "ok", 0.002)
    metrics.observe_span(f"send {topic}", "producer", "error", 0.2)
    return metrics


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("prometheus is not installed: run scripts/install-prometheus", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def referenced_names() -> set[str]:
    return {
        name for expr in alert_expressions() + dashboard_expressions() for name in METRIC_NAME.findall(expr)
    }


def alert_expressions() -> list[str]:
    alerts = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana" / "omnibase-infrastructure.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return [e.replace("$environment", ".*") for e in exprs]


@pytest.fixture
async def health_server() -> AsyncIterator[HealthServer]:
    metrics = populated_metrics()
    server = HealthServer(build_health_app(StaticProvider(), metrics), metrics)
    await server.start("127.0.0.1", 0, 0)
    yield server
    await server.stop()


async def test_health_server_serves_both_ports(health_server: HealthServer) -> None:
    assert health_server.health_port != health_server.metrics_port
    async with aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{health_server.health_port}"
        metrics_base = f"http://127.0.0.1:{health_server.metrics_port}"
        async with session.get(f"{base}/health") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "degraded"
        async with session.get(f"{base}/ready") as response:
            assert response.status == 503  # the kafka breaker is open
        for url in (f"{base}/metrics", f"{metrics_base}/metrics"):
            async with session.get(url) as response:
                assert response.status == 200
                assert "omnibase_infrastructure_health" in await response.text()
        async with session.get(f"{metrics_base}/health") as response:
            assert response.status == 404
    await health_server.stop()
    await health_server.stop()  # idempotent


async def test_one_port_serves_everything_when_both_ports_are_equal() -> None:
    metrics = populated_metrics()
    server = HealthServer(build_health_app(StaticProvider(), metrics), metrics)
    port = free_port()
    await server.start("127.0.0.1", port, port)
    try:
        assert server.health_port == server.metrics_port == port
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
    finally:
        await server.stop()


async def _get_json(session: aiohttp.ClientSession, url: str, **params: str) -> dict[str, object]:
    async with session.get(url, params=params) as response:
        body: dict[str, object] = await response.json()
        assert response.status == 200, body
        return body


async def _wait_for_scrape(
    session: aiohttp.ClientSession, api: str, process: asyncio.subprocess.Process
) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        if process.returncode is not None:
            pytest.fail(f"prometheus exited with {process.returncode}", pytrace=False)
        try:
            body = await _get_json(session, f"{api}/query", query=f'up{{job="{JOB}"}} == 1')
            data = body["data"]
            if isinstance(data, dict) and data.get("result"):
                return
        except (aiohttp.ClientError, AssertionError):
            pass
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("Prometheus did not scrape the service within 60 s", pytrace=False)
        await asyncio.sleep(0.25)


async def test_prometheus_scrapes_every_referenced_metric(
    health_server: HealthServer, tmp_path: Path
) -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == JOB]
    job["scrape_interval"] = "1s"
    job["scrape_timeout"] = "1s"
    job["static_configs"] = [{"targets": [f"127.0.0.1:{health_server.metrics_port}"]}]
    config["rule_files"] = [str(MONITORING / name) for name in config["rule_files"]]
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()

    process = await asyncio.create_subprocess_exec(
        prometheus_binary(),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_for_scrape(session, api, process)

            names_body = await _get_json(session, f"{api}/label/__name__/values")
            present = set(names_body["data"])  # type: ignore[arg-type]
            missing = referenced_names() - present
            assert not missing, (
                f"metrics referenced by alerts.yml/dashboard but not scraped: {sorted(missing)}"
            )

            labels_body = await _get_json(session, f"{api}/query", query="omnibase_infrastructure_health")
            (sample,) = labels_body["data"]["result"]  # type: ignore[index]
            assert sample["metric"]["environment"] == "staging"
            assert sample["metric"]["job"] == JOB
            assert sample["value"][1] == "0.5"

            for expr in dashboard_expressions() + alert_expressions():
                await _get_json(session, f"{api}/query", query=expr)  # 400 on a parse or matching error

            await _wait_for_rule_evaluation(session, api)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_for_rule_evaluation(session: aiohttp.ClientSession, api: str) -> None:
    """Every alert rule has been evaluated at least once, and without error."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        body = await _get_json(session, f"{api}/rules")
        rules = [rule for group in body["data"]["groups"] for rule in group["rules"]]  # type: ignore[index]
        assert rules
        errors = {r["name"]: r.get("lastError") for r in rules if r.get("health") == "err"}
        assert not errors, errors
        if all(r.get("health") == "ok" for r in rules):
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(
                f"rules not evaluated: {[(r['name'], r.get('health')) for r in rules]}", pytrace=False
            )
        await asyncio.sleep(0.25)
