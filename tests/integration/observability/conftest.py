"""Fixtures of the observability integration tests.

``otlp_receiver``: a minimal OTLP/HTTP trace receiver on an ephemeral loopback port that
decodes ``ExportTraceServiceRequest`` protobufs into ``ReceivedSpan`` records.
``otlp_grpc_receiver``: the same over OTLP/gRPC, a real ``grpc.aio`` server implementing
opentelemetry-proto's ``TraceService``. ``otlp_receivers`` is parametrised over both protocols.
Each records the headers (gRPC metadata) of every request, and refuses requests without
``required_headers`` (HTTP 401, gRPC ``UNAUTHENTICATED``) once a test sets them.

They run in the test's event loop and span exporters send from their own threads, so flush a
provider with ``await asyncio.to_thread(provider.force_flush)``, never on the loop thread.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def _value(value: AnyValue) -> str | int | float | bool:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    return str(value)


def attributes(pairs: list[KeyValue]) -> dict[str, str | int | float | bool]:
    return {pair.key: _value(pair.value) for pair in pairs}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived, with its resource attributes."""

    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, str | int | float | bool]
    resource: dict[str, str | int | float | bool]
    status_code: int
    links: tuple[tuple[str, str], ...] = ()
    """(trace id, span id) of each span link, in hex."""
    start_ns: int = 0
    end_ns: int = 0
    """Start and end, in nanoseconds since the epoch (the exporting process's clock)."""


@dataclass
class OtlpReceiver:
    """Collects every span posted to ``<url>/v1/traces``."""

    protocol = "http/protobuf"
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    content_types: set[str] = field(default_factory=set)
    headers: list[dict[str, str]] = field(default_factory=list)
    """The headers of every request (names lower-cased), accepted or refused."""
    required_headers: dict[str, str] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    url: str = ""

    def admits(self, headers: dict[str, str]) -> bool:
        """Record ``headers``; True when they carry every required header."""
        self.headers.append(headers)
        return all(headers.get(k) == v for k, v in self.required_headers.items())

    def collect(self, export: ExportTraceServiceRequest) -> None:
        self.requests += 1
        for resource_spans in export.resource_spans:
            resource = attributes(list(resource_spans.resource.attributes))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(_received(span, resource))

    async def _handle(self, request: web.Request) -> web.Response:
        if not self.admits({k.lower(): v for k, v in request.headers.items()}):
            return web.Response(status=401, text="missing credentials")
        body = await request.read()
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.content_types.add(request.headers.get("Content-Type", ""))
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        self.collect(export)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, within: float = 15.0) -> list[ReceivedSpan]:
        """Wait until at least ``count`` spans arrived; return them all."""
        deadline = asyncio.get_running_loop().time() + within
        while len(self.spans) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(self.spans)} spans arrived, expected {count}: {self.spans}")
            await asyncio.sleep(0.05)
        return list(self.spans)


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]  # untyped base
    def __init__(self, receiver: OtlpGrpcReceiver) -> None:
        self._receiver = receiver

    async def Export(  # the gRPC method's name
        self, request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        metadata = {str(k).lower(): str(v) for k, v in context.invocation_metadata()}
        if not self._receiver.admits(metadata):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing credentials")
        self._receiver.collect(request)
        return ExportTraceServiceResponse()


@dataclass
class OtlpGrpcReceiver(OtlpReceiver):
    """Collects every span exported to the gRPC ``TraceService`` at ``url`` (``http://host:port``)."""

    protocol = "grpc"
    _server: grpc.aio.Server | None = None

    async def start(self) -> None:
        self._server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None


def _received(span: Span, resource: dict[str, str | int | float | bool]) -> ReceivedSpan:
    return ReceivedSpan(
        name=span.name,
        kind=span.kind,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        attributes=attributes(list(span.attributes)),
        resource=resource,
        status_code=span.status.code,
        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
    )


@pytest.fixture
async def otlp_receiver() -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def otlp_grpc_receiver() -> AsyncIterator[OtlpGrpcReceiver]:
    receiver = OtlpGrpcReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture(params=["http/protobuf", "grpc"])
async def otlp_receivers(request: pytest.FixtureRequest) -> AsyncIterator[OtlpReceiver]:
    """An OTLP receiver of each protocol (``receiver.protocol`` names it)."""
    receiver = OtlpGrpcReceiver() if request.param == "grpc" else OtlpReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()
