"""The server checks of ``onex-infra env check``: PostgreSQL, Kafka, the OTLP endpoint (HTTP or gRPC).

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
from omnibase_infra.observability.otlp_endpoint import parse_headers, resolve_traces_endpoint

if TYPE_CHECKING:
    from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig
    from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig
    from omnibase_infra.settings import ModelTelemetrySettings

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
    from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations

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
    from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import security_kwargs

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
    """Where the HTTP exporter posts spans for a general endpoint: ``<endpoint>/v1/traces`` (not doubled)."""
    url = resolve_traces_endpoint("http/protobuf", endpoint, None)
    assert url is not None  # an endpoint was given
    return url


_HEADERS_HINT = "the collector refused the credentials: check OTEL_EXPORTER_OTLP_[TRACES_]HEADERS"
_COLLECTOR_DOWN = "is the collector running and reachable from here?"


def _post_empty(url: str, headers: dict[str, str], timeout_seconds: float) -> int:
    """POST an empty OTLP/protobuf export request; the HTTP status (error statuses included)."""
    request = urllib.request.Request(
        url, data=b"", method="POST", headers={**headers, "Content-Type": "application/x-protobuf"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def _check_otlp_http(
    url: str, headers: dict[str, str], timeout_seconds: float, shown: str
) -> list[CheckResult]:
    hint = "an OTLP/HTTP endpoint is the collector's base URL, e.g. http://collector:4318"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: not an http(s) URL", hint)]
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: bad port", hint)]
    refused = await _tcp(parts.hostname, port, timeout_seconds)
    if refused:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: {refused}", _COLLECTOR_DOWN)]
    try:
        status = await asyncio.to_thread(_post_empty, url, headers, timeout_seconds)
    except (OSError, urllib.error.URLError) as exc:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: {_reason(exc)}", hint)]
    if 200 <= status < 300:
        return [CheckResult("otlp", "endpoint", "pass", f"{shown} answered HTTP {status}")]
    if status in (401, 403):
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: HTTP {status}", _HEADERS_HINT)]
    if status in (404, 405):
        return [
            CheckResult("otlp", "endpoint", "fail", f"{shown}: HTTP {status} - no OTLP traces receiver", hint)
        ]
    return [CheckResult("otlp", "endpoint", "warn", f"{shown}: answered HTTP {status}", hint)]


def _grpc_target(endpoint: str) -> tuple[str, bool] | None:
    """(``host:port``, TLS?) of a gRPC endpoint; ``http://`` is plaintext, as for the exporter."""
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    if parts.scheme not in ("", "http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 4317)
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", parts.scheme != "http"


def _grpc_export_empty(target: str, tls: bool, headers: dict[str, str], timeout_seconds: float) -> str:
    """Call ``TraceService/Export`` with an empty request; the gRPC status code's name."""
    import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

    channel = (
        grpc.secure_channel(target, grpc.ssl_channel_credentials()) if tls else grpc.insecure_channel(target)
    )
    with channel:
        try:
            stub = TraceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
            stub.Export(ExportTraceServiceRequest(), metadata=tuple(headers.items()), timeout=timeout_seconds)
        except grpc.RpcError as exc:
            return str(exc.code().name)
    return "OK"


async def _check_otlp_grpc(
    endpoint: str, headers: dict[str, str], timeout_seconds: float, shown: str
) -> list[CheckResult]:
    hint = "an OTLP/gRPC endpoint is the collector's address, e.g. http://collector:4317 (http: plaintext)"
    target = _grpc_target(endpoint)
    if target is None:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: not a host:port or http(s) URL", hint)]
    address, tls = target
    host, _, port = address.rpartition(":")
    refused = await _tcp(host.strip("[]"), int(port), timeout_seconds)
    if refused:
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: {refused}", _COLLECTOR_DOWN)]
    code = await asyncio.to_thread(_grpc_export_empty, address, tls, headers, timeout_seconds)
    if code == "OK":
        return [CheckResult("otlp", "endpoint", "pass", f"{shown} answered gRPC OK")]
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: gRPC {code}", _HEADERS_HINT)]
    if code == "UNIMPLEMENTED":
        return [
            CheckResult("otlp", "endpoint", "fail", f"{shown}: gRPC {code} - no OTLP traces service", hint)
        ]
    if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return [CheckResult("otlp", "endpoint", "fail", f"{shown}: gRPC {code}", _COLLECTOR_DOWN)]
    return [CheckResult("otlp", "endpoint", "warn", f"{shown}: answered gRPC {code}", hint)]


async def check_otlp(
    telemetry: ModelTelemetrySettings, timeout_seconds: float, redact: Callable[[str], str]
) -> list[CheckResult]:
    """An empty OTLP export to the traces endpoint the exporter uses, with its protocol and headers.

    ``http/protobuf``: TCP, then a POST to the traces URL. ``grpc``: TCP, then a
    ``TraceService/Export`` call. The headers (``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS``) are
    sent as the exporter sends them; the endpoint is shown through ``redact``.
    """
    endpoint = resolve_traces_endpoint(
        telemetry.otlp_protocol, telemetry.otlp_endpoint, telemetry.otlp_traces_endpoint
    )
    if endpoint is None:
        why = "OTEL_EXPORTER_OTLP_ENDPOINT not set: spans are not exported"
        return [CheckResult("otlp", "check", "skip", why)]
    headers = parse_headers(telemetry.otlp_headers)
    shown = f"{redact(endpoint)} ({telemetry.otlp_protocol})"
    if telemetry.otlp_protocol == "grpc":
        return await _check_otlp_grpc(endpoint, headers, timeout_seconds, shown)
    return await _check_otlp_http(endpoint, headers, timeout_seconds, shown)


__all__ = ["bootstrap_hosts", "check_kafka", "check_otlp", "check_postgres", "traces_url"]
