"""The operations HTTP server (aiohttp.web): health, readiness, metrics, OpenAPI, breaker admin.

On ``HEALTH_CHECK_PORT``: ``/health``, ``/health/detailed``, ``/ready``, ``/metrics``,
``/openapi.json`` and, when an admin and a token are configured,
``POST /admin/breakers/{name}/reset``. Without a token the admin route does not exist (404).
On ``PROMETHEUS_METRICS_PORT``: ``/metrics`` only.

``HealthServer.start`` binds both sites (port 0 picks a free port; the bound ports are
then in ``health_port``/``metrics_port``); ``stop`` is idempotent.

A malformed request (bad request line, header or encoding) gets aiohttp's 400 and one
INFO line naming the client and the parser's complaint; aiohttp alone would log it at
ERROR with a traceback, so any client could flood the log and the error alerts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import http_exceptions, web

from omnibase_infra.errors import LifecycleError
from omnibase_infra.observability.http_handlers import HealthHandlers, error_middleware, metrics_response
from omnibase_infra.observability.openapi import build_openapi

if TYPE_CHECKING:
    from pydantic import SecretStr

    from omnibase_infra.observability.audit import AuditLogger
    from omnibase_infra.observability.health import ProtocolBreakerAdmin, ProtocolHealthProvider
    from omnibase_infra.observability.metrics import InfraMetrics

ADMIN_RESET_PATH = "/admin/breakers/{name}/reset"
_SERVER_LOGGER = "aiohttp.server"


class MalformedRequestFilter(logging.Filter):
    """Turns aiohttp's ERROR-with-traceback for a request it could not parse into one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, http_exceptions.HttpProcessingError) and record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            reason = " ".join(str(error.message).split())[:200]  # the client's bytes: bounded, one line
            record.msg = f"{record.getMessage()}: malformed request: {type(error).__name__}: {reason}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _install_malformed_request_filter() -> None:
    logger = logging.getLogger(_SERVER_LOGGER)
    if not any(isinstance(f, MalformedRequestFilter) for f in logger.filters):
        logger.addFilter(MalformedRequestFilter())


def build_health_app(
    provider: ProtocolHealthProvider,
    metrics: InfraMetrics,
    admin: ProtocolBreakerAdmin | None = None,
    admin_token: SecretStr | None = None,
    *,
    audit: AuditLogger | None = None,
) -> web.Application:
    """The application served on the health port (see the module docstring).

    The admin route is registered only when ``admin`` is given and ``admin_token`` is a
    non-empty secret; resets and refused attempts are audited when ``audit`` is given.
    """
    enabled = admin is not None and admin_token is not None and bool(admin_token.get_secret_value())
    handlers = HealthHandlers(
        provider,
        metrics,
        admin=admin,
        admin_token=admin_token,
        audit=audit,
        openapi=build_openapi(include_admin=enabled),
    )
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/health", handlers.health, allow_head=False)
    app.router.add_get("/health/detailed", handlers.health_detailed, allow_head=False)
    app.router.add_get("/ready", handlers.ready, allow_head=False)
    app.router.add_get("/live", handlers.live, allow_head=False)
    app.router.add_get("/metrics", handlers.metrics, allow_head=False)
    app.router.add_get("/openapi.json", handlers.openapi, allow_head=False)
    if enabled:
        app.router.add_post(ADMIN_RESET_PATH, handlers.reset_breaker)
    return app


def build_metrics_app(metrics: InfraMetrics) -> web.Application:
    """The application served on the Prometheus port: ``GET /metrics`` only."""

    async def render(request: web.Request) -> web.Response:
        return metrics_response(metrics)

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/metrics", render, allow_head=False)
    return app


class HealthServer:
    """Runs the health app and the metrics-only app on their ports.

    ``start`` then ``stop``; a second ``start`` raises ``LifecycleError``, a second ``stop``
    does nothing. When ``metrics_port`` is ``None`` or equals ``health_port`` (non-zero), no
    second site is opened: the health port already serves ``/metrics``.
    """

    def __init__(self, health_app: web.Application, metrics: InfraMetrics) -> None:
        self._health_app = health_app
        self._metrics = metrics
        self._runners: list[web.AppRunner] = []
        self._health_port: int | None = None
        self._metrics_port: int | None = None
        self._started = False

    @property
    def health_port(self) -> int:
        """The bound health port; ``LifecycleError`` before ``start``."""
        if self._health_port is None:
            raise LifecycleError("HealthServer is not started")
        return self._health_port

    @property
    def metrics_port(self) -> int:
        """The port serving the metrics-only site (the health port when there is none)."""
        if self._health_port is None:
            raise LifecycleError("HealthServer is not started")
        return self._metrics_port if self._metrics_port is not None else self._health_port

    async def _serve(self, app: web.Application, host: str, port: int, *, access_log: bool) -> int:
        # Scrapes every few seconds would drown the log: the metrics-only site logs no access.
        runner = web.AppRunner(app) if access_log else web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, host, port)
        await site.start()
        address = runner.addresses[0]
        return int(address[1])

    async def start(self, host: str, health_port: int, metrics_port: int | None) -> None:
        """Bind and serve; on a bind failure everything opened so far is closed and the error raised."""
        if self._started:
            raise LifecycleError("HealthServer already started")
        self._started = True
        _install_malformed_request_filter()
        try:
            self._health_port = await self._serve(self._health_app, host, health_port, access_log=True)
            if metrics_port is not None and (metrics_port == 0 or metrics_port != health_port):
                self._metrics_port = await self._serve(
                    build_metrics_app(self._metrics), host, metrics_port, access_log=False
                )
        except BaseException:
            await self._cleanup()
            raise

    async def _cleanup(self) -> None:
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()

    async def stop(self) -> None:
        """Close both sites; idempotent."""
        await self._cleanup()


__all__ = [
    "ADMIN_RESET_PATH",
    "HealthServer",
    "MalformedRequestFilter",
    "build_health_app",
    "build_metrics_app",
]
