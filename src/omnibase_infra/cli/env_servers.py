"""The server checks of ``onex-infra env check``: PostgreSQL, Kafka, the OTLP endpoint.

Each check is bounded by ``timeout_seconds`` seconds per step, returns ``CheckResult`` lines and
never raises for what it checks: a refused connection is a failed line with a hint. Error
details are reduced to the exception's class and its sanitised message (the connection
manager's errors never carry a password or a DSN).
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from omnibase_infra.cli.env_checks import CheckResult
from omnibase_infra.errors import ConfigurationError, InfraError

if TYPE_CHECKING:
    from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig
    from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

OTLP_TRACES_PATH = "/v1/traces"
_PG_DOWN_HINT = (
    "is the server running and reachable? check POSTGRES_HOST/POSTGRES_PORT (locally: scripts/services start)"
)
_KAFKA_DOWN_HINT = (
    "is the broker running and reachable? check KAFKA_BOOTSTRAP_SERVERS (locally: scripts/services start)"
)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, InfraError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


async def check_postgres(config: ModelPostgresConnectionConfig, timeout_seconds: float) -> list[CheckResult]:
    """Connect, read the server version, compare the schema version with this release's."""
    from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
    from omnibase_infra.runtime import migrations

    cfg = config.model_copy(
        update={
            "min_connections": 0,
            "max_connections": 1,
            "connect_timeout": timeout_seconds,
            "application_name": "onex-infra env check",
        }
    )
    where = cfg.describe()
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_seconds * 2):
            async with PostgresConnectionManager(cfg) as manager, manager.acquire_connection() as conn:
                version = str(await conn.fetchval("SHOW server_version"))
                have = await migrations.current_version(conn, cfg.schema_name)
    except ConfigurationError as exc:
        hint = "check POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DATABASE and POSTGRES_SSL_*"
        return [CheckResult("postgres", "connect", "fail", f"{where}: {exc.reason}", hint)]
    except Exception as exc:
        reason = _reason(exc)
        detail = reason if where in reason else f"{where}: {reason}"
        return [CheckResult("postgres", "connect", "fail", detail, _PG_DOWN_HINT)]
    results = [CheckResult("postgres", "connect", "pass", f"{where}: PostgreSQL {version} ({_ms(started)})")]
    want = migrations.latest_version()
    schema = cfg.schema_name
    if have == want:
        results.append(CheckResult("postgres", "schema", "pass", f"schema {schema!r} at version {have}"))
    elif have < want:
        detail = (
            f"schema {schema!r} has no service tables (this release needs version {want})"
            if have == 0
            else f"schema {schema!r} is at version {have}, this release needs {want}"
        )
        results.append(CheckResult("postgres", "schema", "fail", detail, "run `onex-infra db migrate`"))
    else:
        detail = f"schema {schema!r} is at version {have}, newer than this release ({want})"
        results.append(CheckResult("postgres", "schema", "fail", detail, "upgrade omnibase_infra"))
    return results


def bootstrap_hosts(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port`` pairs of a bootstrap list (``PLAINTEXT://`` prefixes and ``[v6]`` allowed)."""
    hosts: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        entry = item.strip()
        if not entry:
            continue
        entry = entry.split("://", 1)[-1]
        host, sep, port = entry.rpartition(":")
        if not sep:
            host, port = entry, "9092"
        hosts.append((host.strip("[]"), int(port)))
    return hosts


async def _tcp(host: str, port: int, timeout_seconds: float) -> str | None:
    """``None`` when a TCP connection opens, else the reason."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_seconds)
    except (OSError, TimeoutError) as exc:
        return _reason(exc)
    writer.close()
    await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    return None


async def check_kafka(
    bootstrap: str, security: ModelKafkaSecurityConfig, timeout_seconds: float
) -> list[CheckResult]:
    """TCP to each bootstrap server, then a metadata request through aiokafka's admin client."""
    try:
        hosts = bootstrap_hosts(bootstrap)
    except ValueError:
        hint = "host:port[,host:port...]"
        return [CheckResult("kafka", "connect", "fail", f"cannot parse {bootstrap!r}", hint)]
    refusals = await asyncio.gather(*(_tcp(h, p, timeout_seconds) for h, p in hosts))
    if all(refusals):
        detail = "; ".join(f"{h}:{p}: {r}" for (h, p), r in zip(hosts, refusals, strict=True))
        return [CheckResult("kafka", "connect", "fail", detail, _KAFKA_DOWN_HINT)]

    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]  # untyped library

    from omnibase_infra.infrastructure.error_classification import is_authentication_failure
    from omnibase_infra.runtime.kafka_consumer import security_kwargs

    started = time.monotonic()
    admin = None
    try:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="onex-infra-env-check",
            request_timeout_ms=int(timeout_seconds * 1000),
            **security_kwargs(security),
        )
        async with asyncio.timeout(timeout_seconds * 2):
            await admin.start()
            cluster = await admin.describe_cluster()
    except Exception as exc:
        if is_authentication_failure(exc):
            hint = "check KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_*"
        else:
            hint = _KAFKA_DOWN_HINT
        return [CheckResult("kafka", "metadata", "fail", f"{bootstrap}: {_reason(exc)}", hint)]
    finally:
        if admin is not None:
            await asyncio.gather(admin.close(), return_exceptions=True)
    brokers = cluster.get("brokers") or []
    detail = (
        f"{bootstrap}: {len(brokers)} broker(s), controller {cluster.get('controller_id')}, "
        f"cluster {cluster.get('cluster_id')} ({_ms(started)})"
    )
    return [CheckResult("kafka", "metadata", "pass", detail)]


def traces_url(endpoint: str) -> str:
    """Where the exporter posts spans: ``<endpoint>/v1/traces`` (not doubled), as the service does."""
    base = endpoint.rstrip("/")
    return base if base.endswith(OTLP_TRACES_PATH) else base + OTLP_TRACES_PATH


def _post_empty(url: str, timeout_seconds: float) -> int:
    """POST an empty OTLP/protobuf export request; the HTTP status (error statuses included)."""
    request = urllib.request.Request(
        url, data=b"", method="POST", headers={"Content-Type": "application/x-protobuf"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def check_otlp(
    endpoint: str, timeout_seconds: float, redact: Callable[[str], str]
) -> list[CheckResult]:
    """TCP then an empty OTLP/HTTP export to the traces URL (shown through ``redact``)."""
    url = traces_url(endpoint)
    shown = redact(url)
    parts = urlsplit(url)
    hint = "OTEL_EXPORTER_OTLP_ENDPOINT is the collector's OTLP/HTTP base URL, e.g. http://collector:4318"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: not an http(s) URL", hint)]
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: bad port", hint)]
    refused = await _tcp(parts.hostname, port, timeout_seconds)
    if refused:
        down = "is the collector running and reachable from here?"
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: {refused}", down)]
    try:
        status = await asyncio.to_thread(_post_empty, url, timeout_seconds)
    except (OSError, urllib.error.URLError) as exc:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: {_reason(exc)}", hint)]
    if 200 <= status < 300:
        return [CheckResult("otlp", "endpoint", "pass", f"{shown} answered HTTP {status}")]
    if status in (404, 405):
        return [
            CheckResult("otlp", "endpoint", "fail", f"{shown}: HTTP {status} - no OTLP traces receiver", hint)
        ]
    return [CheckResult("otlp", "endpoint", "warn", f"{shown}: answered HTTP {status}", hint)]


__all__ = ["bootstrap_hosts", "check_kafka", "check_otlp", "check_postgres", "traces_url"]
