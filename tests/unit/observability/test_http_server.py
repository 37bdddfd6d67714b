"""The health/metrics/admin endpoints through aiohttp's test client (loopback, ephemeral port)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from aiohttp import test_utils, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from omnibase_infra.models.model_health import CircuitState, InfrastructureHealthMetrics
from omnibase_infra.observability.audit import AuditEventType, AuditLogger, AuditOutcome, InMemoryAuditSink
from omnibase_infra.observability.health import evaluate_readiness
from omnibase_infra.observability.http_server import build_health_app
from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.observability.redaction import register_secret

TOKEN = "admin-token-0123456789"
HealthFactory = Callable[..., InfrastructureHealthMetrics]
ClientFactory = Callable[[web.Application], Awaitable[test_utils.TestClient[web.Request, web.Application]]]


class FakeProvider:
    """Answers with a fixed sample; ``pool_up``/``consumer_up`` drive readiness."""

    def __init__(
        self, health: InfrastructureHealthMetrics | None, *, pool_up: bool = True, consumer_up: bool = True
    ):
        self.sample = health
        self.pool_up = pool_up
        self.consumer_up = consumer_up
        self.fail_with: Exception | None = None

    async def health(self) -> InfrastructureHealthMetrics:
        if self.fail_with is not None:
            raise self.fail_with
        assert self.sample is not None
        return self.sample

    async def readiness(self) -> tuple[bool, list[str]]:
        if self.fail_with is not None:
            raise self.fail_with
        return evaluate_readiness(
            self.sample, database_pool_ready=self.pool_up, consumer_ready=self.consumer_up
        )


class FakeAdmin:
    def __init__(self) -> None:
        self.resets: list[str] = []
        self.fail_with: Exception | None = None

    def breaker_names(self) -> Sequence[str]:
        return ("postgres", "kafka")

    async def reset_breaker(self, name: str) -> CircuitState:
        if self.fail_with is not None:
            raise self.fail_with
        self.resets.append(name)
        return "closed"


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    clients: list[test_utils.TestClient[web.Request, web.Application]] = []

    async def make(app: web.Application) -> test_utils.TestClient[web.Request, web.Application]:
        client = test_utils.TestClient(test_utils.TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def _app(
    provider: FakeProvider, *, admin: FakeAdmin | None = None, token: str | None = None, **kw: object
) -> web.Application:
    metrics = InfraMetrics(CollectorRegistry(), "production")
    audit = kw.get("audit")
    return build_health_app(
        provider,
        metrics,
        admin,
        SecretStr(token) if token is not None else None,
        audit=audit if isinstance(audit, AuditLogger) else None,
    )


@pytest.mark.parametrize(("status", "code"), [("healthy", 200), ("degraded", 200), ("unhealthy", 503)])
async def test_health_answers_per_state(
    client_for: ClientFactory, health_factory: HealthFactory, status: str, code: int
) -> None:
    client = await client_for(_app(FakeProvider(health_factory(status))))
    response = await client.get("/health")
    assert response.status == code
    body = await response.json()
    assert body == {
        "status": status,
        "timestamp": "2026-01-01T12:00:00+00:00",
        "environment": "production",
        "components": {
            "postgres": status != "unhealthy",
            "kafka": status == "healthy",
            "circuit_breaker": True,
        },
    }


@pytest.mark.parametrize(("status", "code"), [("healthy", 200), ("degraded", 200), ("unhealthy", 503)])
async def test_detailed_health_has_the_seed_sections(
    client_for: ClientFactory, health_factory: HealthFactory, status: str, code: int
) -> None:
    client = await client_for(_app(FakeProvider(health_factory(status))))
    response = await client.get("/health/detailed")
    assert response.status == code
    body = await response.json()
    assert body["overall"] == status
    assert body["postgres_metrics"]["connection_pool"]["max_size"] == 10
    assert body["kafka_metrics"]["pool"]["total_producers"] == 3
    assert [b["name"] for b in body["circuit_breaker_metrics"]] == ["postgres", "kafka"]
    assert body["performance"] == {
        "total_connections": 8,
        "total_messages_processed": 150_000,
        "error_rate_percent": 0.2 if status == "healthy" else 12.5,
    }


async def test_ready_only_when_pool_consumer_and_breakers_allow(
    client_for: ClientFactory, health_factory: HealthFactory
) -> None:
    provider = FakeProvider(health_factory("healthy"))
    client = await client_for(_app(provider))
    response = await client.get("/ready")
    assert response.status == 200
    assert await response.json() == {"ready": True, "reasons": []}

    provider.sample = health_factory("degraded", kafka_state="open")
    provider.consumer_up = False
    response = await client.get("/ready")
    assert response.status == 503
    assert (await response.json())["reasons"] == [
        "Kafka consumer is not running",
        "circuit breaker 'kafka' is open",
    ]

    provider.sample, provider.consumer_up, provider.pool_up = health_factory("healthy"), True, False
    response = await client.get("/ready")
    assert response.status == 503
    assert (await response.json())["reasons"] == ["database pool is not started"]


async def test_half_open_breaker_does_not_block_readiness(
    client_for: ClientFactory, health_factory: HealthFactory
) -> None:
    client = await client_for(_app(FakeProvider(health_factory("degraded", kafka_state="half_open"))))
    assert (await client.get("/ready")).status == 200


async def test_failing_provider_is_503_without_details(
    client_for: ClientFactory, health_factory: HealthFactory, caplog: pytest.LogCaptureFixture
) -> None:
    register_secret("db-pass-xyz")
    provider = FakeProvider(health_factory("healthy"))
    provider.fail_with = RuntimeError("connect postgresql://app:db-pass-xyz@db/x refused")
    client = await client_for(_app(provider))
    for path in ("/health", "/health/detailed", "/ready"):
        response = await client.get(path)
        assert response.status == 503
        text = await response.text()
        assert "db-pass-xyz" not in text and "RuntimeError" not in text and "Traceback" not in text
    assert "error_id" in (await (await client.get("/health")).json())
    assert "db-pass-xyz" not in caplog.text or all(
        "db-pass-xyz" not in r.getMessage() for r in caplog.records
    )


async def test_no_secret_in_any_body(client_for: ClientFactory, health_factory: HealthFactory) -> None:
    register_secret("pg-secret-password")
    sample = health_factory("unhealthy", postgres_error="password authentication failed: pg-secret-password")
    client = await client_for(_app(FakeProvider(sample), admin=FakeAdmin(), token=TOKEN))
    bodies = [
        await (await client.get(p)).text() for p in ("/health", "/health/detailed", "/ready", "/metrics")
    ]
    bodies.append(await (await client.get("/openapi.json")).text())
    bodies.append(await (await client.post("/admin/breakers/kafka/reset")).text())
    for body in bodies:
        assert "pg-secret-password" not in body
        assert TOKEN not in body
    assert "password authentication failed: ***" in bodies[1]


async def test_metrics_are_prometheus_text(client_for: ClientFactory, health_factory: HealthFactory) -> None:
    client = await client_for(_app(FakeProvider(health_factory("healthy"))))
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    names = {family.name for family in text_string_to_metric_families(await response.text())}
    assert {"omnibase_postgres_connections", "omnibase_events_queued"} <= names


async def test_openapi_lists_exactly_the_served_routes(
    client_for: ClientFactory, health_factory: HealthFactory
) -> None:
    for admin, token in ((None, None), (FakeAdmin(), TOKEN)):
        app = _app(FakeProvider(health_factory("healthy")), admin=admin, token=token)
        served = {
            (route.method.lower(), route.resource.canonical)
            for route in app.router.routes()
            if route.resource is not None
        }
        client = await client_for(app)
        document = await (await client.get("/openapi.json")).json()
        assert document["openapi"] == "3.1.0"
        documented = {(method, path) for path, item in document["paths"].items() for method in item}
        assert documented == served
        refs = {ref.rsplit("/", 1)[1] for ref in _refs(document)}
        assert refs <= set(document["components"]["schemas"])


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_admin_route_does_not_exist_without_a_token(
    client_for: ClientFactory, health_factory: HealthFactory
) -> None:
    for token in (None, ""):
        client = await client_for(
            _app(FakeProvider(health_factory("healthy")), admin=FakeAdmin(), token=token)
        )
        response = await client.post("/admin/breakers/kafka/reset", headers={"Authorization": "Bearer "})
        assert response.status == 404


async def test_admin_reset_requires_the_bearer_token(
    client_for: ClientFactory, health_factory: HealthFactory
) -> None:
    admin, sink = FakeAdmin(), InMemoryAuditSink()
    audit = AuditLogger(sink, environment="production")
    client = await client_for(
        _app(FakeProvider(health_factory("healthy")), admin=admin, token=TOKEN, audit=audit)
    )
    path = "/admin/breakers/kafka/reset"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = await client.post(path, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert admin.resets == []

    response = await client.post(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    assert await response.json() == {"breaker": "kafka", "state": "closed"}
    assert admin.resets == ["kafka"]

    response = await client.post("/admin/breakers/nope/reset", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 404
    assert (await client.get(path)).status == 405

    outcomes = [(e.event_type, e.outcome) for e in sink.events]
    assert outcomes == [(AuditEventType.SECURITY, AuditOutcome.DENIED)] * 3 + [
        (AuditEventType.CONFIGURATION, AuditOutcome.SUCCESS)
    ]


async def test_unexpected_error_is_a_generic_500_with_an_error_id(
    client_for: ClientFactory, health_factory: HealthFactory, caplog: pytest.LogCaptureFixture
) -> None:
    register_secret("very-secret-thing")
    admin = FakeAdmin()
    admin.fail_with = RuntimeError("boom very-secret-thing")
    client = await client_for(_app(FakeProvider(health_factory("healthy")), admin=admin, token=TOKEN))
    with caplog.at_level(logging.ERROR, logger="omnibase_infra.http"):
        response = await client.post(
            "/admin/breakers/kafka/reset", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status == 500
    body = await response.json()
    assert body["error"] == "internal error"
    assert len(body["error_id"]) == 32
    assert "boom" not in await response.text()
    (record,) = [r for r in caplog.records if r.name == "omnibase_infra.http"]
    assert getattr(record, "error_id", None) == body["error_id"]


async def test_unknown_path_and_method_are_json_errors(
    client_for: ClientFactory, health_factory: HealthFactory
) -> None:
    client = await client_for(_app(FakeProvider(health_factory("healthy"))))
    response = await client.get("/nope")
    assert response.status == 404
    assert await response.json() == {"error": "Not Found"}
    response = await client.post("/health")
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
