"""Request handlers and the error middleware of the health/metrics/admin HTTP server.

Nothing a handler returns carries a stack trace, an exception message or a secret:

- every JSON body passes through ``redact_json`` (registered secrets, DSN passwords);
- an unexpected exception becomes ``500 {"error": "internal error", "error_id": ...}`` and
  the exception is logged (redacted) under that id;
- a failing health provider makes /health, /health/detailed and /ready answer 503 with
  a generic reason, the details going to the log only.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from omnibase_infra.json_types import JsonObject, JsonValue
from omnibase_infra.models.model_health import InfrastructureHealthMetrics
from omnibase_infra.observability.audit import AuditEventType, AuditOutcome, AuditSeverity
from omnibase_infra.observability.redaction import redact_json

if TYPE_CHECKING:
    from pydantic import SecretStr

    from omnibase_infra.observability.audit import AuditLogger
    from omnibase_infra.observability.health import ProtocolBreakerAdmin, ProtocolHealthProvider
    from omnibase_infra.observability.metrics import InfraMetrics

_log = logging.getLogger("omnibase_infra.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: JsonValue, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response whose strings have been redacted."""
    return web.json_response(redact_json(body), status=status, headers=headers)


def metrics_response(metrics: InfraMetrics) -> web.Response:
    """The rendered registry with prometheus-client's content type."""
    response = web.Response(body=metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def _error_body(message: str, error_id: str | None = None) -> JsonValue:
    body: dict[str, JsonValue] = {"error": message}
    if error_id is not None:
        body["error_id"] = error_id
    return body


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into a small JSON body; never expose a stack trace or exception text."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("www-authenticate", "allow")}
        return json_response(_error_body(exc.reason), status=exc.status, headers=headers)
    except Exception:
        error_id = uuid.uuid4().hex
        _log.exception(
            "unhandled error serving %s %s", request.method, request.path, extra={"error_id": error_id}
        )
        return json_response(_error_body("internal error", error_id), status=500)


def _status_code(health: InfrastructureHealthMetrics) -> int:
    return 503 if health.overall_status == "unhealthy" else 200


class HealthHandlers:
    """The handlers, bound to their collaborators (see ``http_server.build_health_app``)."""

    def __init__(
        self,
        provider: ProtocolHealthProvider,
        metrics: InfraMetrics,
        *,
        admin: ProtocolBreakerAdmin | None,
        admin_token: SecretStr | None,
        audit: AuditLogger | None,
        openapi: JsonObject,
    ) -> None:
        self._provider = provider
        self._metrics = metrics
        self._admin = admin
        self._token = admin_token.get_secret_value().encode() if admin_token is not None else b""
        self._audit = audit
        self._openapi = openapi

    @property
    def admin_enabled(self) -> bool:
        """True when a breaker admin and a non-empty token are configured."""
        return self._admin is not None and bool(self._token)

    async def _health_or_none(self, what: str) -> tuple[InfrastructureHealthMetrics | None, str]:
        try:
            return await self._provider.health(), ""
        except Exception:
            error_id = uuid.uuid4().hex
            _log.exception("%s: the health provider failed", what, extra={"error_id": error_id})
            return None, error_id

    async def health(self, request: web.Request) -> web.Response:
        """GET /health — the seed's summary; 200 healthy or degraded, 503 unhealthy."""
        health, error_id = await self._health_or_none("/health")
        if health is None:
            return json_response({"status": "unhealthy", **_failure(error_id)}, status=503)
        body: JsonValue = {
            "status": health.overall_status,
            "timestamp": health.timestamp.isoformat(),
            "environment": health.environment,
            "components": {
                "postgres": health.postgres_healthy,
                "kafka": health.kafka_healthy,
                "circuit_breaker": health.circuit_breaker_healthy,
            },
        }
        return json_response(body, status=_status_code(health))

    async def health_detailed(self, request: web.Request) -> web.Response:
        """GET /health/detailed — per-component metrics and performance; same status rule as /health."""
        health, error_id = await self._health_or_none("/health/detailed")
        if health is None:
            return json_response({"overall": "unhealthy", **_failure(error_id)}, status=503)
        dumped = health.model_dump(mode="json")
        body: JsonValue = {
            "overall": health.overall_status,
            "timestamp": dumped["timestamp"],
            "environment": health.environment,
            "postgres_metrics": dumped["postgres_metrics"],
            "kafka_metrics": dumped["kafka_metrics"],
            "circuit_breaker_metrics": dumped["circuit_breaker_metrics"],
            "performance": {
                "total_connections": health.total_connections,
                "total_messages_processed": health.total_messages_processed,
                "error_rate_percent": health.error_rate_percent,
            },
        }
        return json_response(body, status=_status_code(health))

    async def ready(self, request: web.Request) -> web.Response:
        """GET /ready — 200 only when the provider says ready; 503 with the reasons otherwise."""
        try:
            ready, reasons = await self._provider.readiness()
        except Exception:
            error_id = uuid.uuid4().hex
            _log.exception("/ready: the health provider failed", extra={"error_id": error_id})
            ready, reasons = False, [f"readiness check failed (error id {error_id})"]
        body: JsonValue = {"ready": ready, "reasons": list(reasons)}
        return json_response(body, status=200 if ready else 503)

    async def live(self, request: web.Request) -> web.Response:
        """GET /live — 200 while the process serves requests (the liveness probe).

        Deliberately independent of PostgreSQL and Kafka: an outage pauses work and is
        reported by /health and /ready; restarting the process would not fix it.
        """
        return json_response({"alive": True}, status=200)

    async def metrics(self, request: web.Request) -> web.Response:
        """GET /metrics — Prometheus text exposition."""
        return metrics_response(self._metrics)

    async def openapi(self, request: web.Request) -> web.Response:
        """GET /openapi.json — the OpenAPI 3.1 document of the routes this app serves."""
        return web.json_response(self._openapi)

    def _audit_reset(
        self,
        request: web.Request,
        name: str,
        event_type: AuditEventType,
        outcome: AuditOutcome,
        **extras: str,
    ) -> None:
        if self._audit is not None:
            self._audit.record(
                event_type,
                AuditSeverity.HIGH,
                resource=f"breaker:{name}",
                action="reset_breaker",
                outcome=outcome,
                extras={"remote": request.remote or "unknown", **extras},
            )

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials or not self._token:
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._token)

    async def reset_breaker(self, request: web.Request) -> web.Response:
        """POST /admin/breakers/{name}/reset — bearer token required; 401 bad token, 404 unknown breaker."""
        name = request.match_info["name"]
        if self._admin is None or not self._token:
            raise web.HTTPNotFound()
        if not self._authorized(request):
            self._audit_reset(request, name, AuditEventType.SECURITY, AuditOutcome.DENIED)
            return json_response(
                _error_body("unauthorized"),
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="onex-admin"'},
            )
        if name not in self._admin.breaker_names():
            return json_response(_error_body("unknown breaker"), status=404)
        try:
            state = await self._admin.reset_breaker(name)
        except KeyError:
            return json_response(_error_body("unknown breaker"), status=404)
        self._audit_reset(request, name, AuditEventType.CONFIGURATION, AuditOutcome.SUCCESS, state=state)
        return json_response({"breaker": name, "state": state})


def _failure(error_id: str) -> dict[str, JsonValue]:
    return {"error": "health check failed", "error_id": error_id}


__all__ = ["HealthHandlers", "error_middleware", "json_response", "metrics_response"]
