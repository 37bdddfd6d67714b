"""OpenTelemetry tracing set-up as the specification's variables describe it: sampler, resource, OTLP.

``TracingConfiguration`` holds what the tracer provider needs; ``configure_tracing``
builds a ``TracerProvider`` from it. Nothing here touches the global provider unless
asked (``set_global=True``), so tests build as many isolated providers as they like.

Sampling: ``OTEL_TRACES_SAMPLER`` (with ``OTEL_TRACES_SAMPLER_ARG``) when set, as the
OpenTelemetry SDK defines it. Otherwise ``ParentBased(TraceIdRatioBased(rate))``, the rate
being ``OTEL_TRACE_SAMPLE_RATE`` or the original guide's per-environment default (production
0.1, staging 0.5, development 1.0). Parent-based means a message whose producer sampled its
trace is always traced by us too (and one whose producer did not, never is), so a trace is
never cut in half.

Export: OTLP over ``http/protobuf`` (collector port 4318, ``/v1/traces`` appended to the
general endpoint) or ``grpc`` (port 4317), with ``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS``. What
this module does not set (timeout, compression, certificates, batch delays) the SDK's exporter
and processor read from their own ``OTEL_*`` variables.

The resource is ``Resource.create``: the SDK's ``telemetry.sdk.*`` attributes and
``OTEL_RESOURCE_ATTRIBUTES``, then the service's own attributes (``service.name`` last).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from omnibase_infra import __version__
from omnibase_infra.environment import EnumEnvironment, detect_environment
from omnibase_infra.observability.otlp_endpoint import parse_headers, resolve_traces_endpoint
from omnibase_infra.settings import OtlpProtocol, TracesSampler

if TYPE_CHECKING:
    from omnibase_infra.observability.metrics import InfraMetrics
    from omnibase_infra.settings import ModelInfraSettings

DEFAULT_SERVICE_NAME = "omnibase_infrastructure"

SAMPLE_RATES: Mapping[EnumEnvironment, float] = MappingProxyType(
    {
        EnumEnvironment.PRODUCTION: 0.1,
        EnumEnvironment.STAGING: 0.5,
        EnumEnvironment.DEVELOPMENT: 1.0,
    }
)


def _detected_environment() -> EnumEnvironment:
    # A zero-argument factory: pydantic passes the validated data to one-argument factories.
    return detect_environment()


class TracingConfiguration(BaseModel):
    """Everything ``configure_tracing`` needs; immutable.

    ``environment`` defaults to ``detect_environment()`` (which raises ``ConfigurationError``
    for an unrecognised value). ``sample_rate_override`` is ``OTEL_TRACE_SAMPLE_RATE``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: EnumEnvironment = Field(default_factory=_detected_environment)
    service_name: str = DEFAULT_SERVICE_NAME
    service_version: str = __version__
    otlp_endpoint: str | None = None
    otlp_traces_endpoint: str | None = None
    otlp_protocol: OtlpProtocol = "http/protobuf"
    otlp_headers: SecretStr | None = None
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    traces_sampler: TracesSampler | None = None
    traces_sampler_arg: float | None = Field(default=None, ge=0.0, le=1.0)
    sample_rate_override: float | None = Field(default=None, ge=0.0, le=1.0)

    @classmethod
    def from_settings(cls, settings: ModelInfraSettings) -> TracingConfiguration:
        """Build from the service settings (``OTEL_*`` variables and the detected environment)."""
        telemetry = settings.telemetry
        return cls(
            environment=settings.environment,
            service_name=telemetry.service_name,
            otlp_endpoint=telemetry.otlp_endpoint,
            otlp_traces_endpoint=telemetry.otlp_traces_endpoint,
            otlp_protocol=telemetry.otlp_protocol,
            otlp_headers=telemetry.otlp_headers,
            resource_attributes=dict(telemetry.resource_attributes),
            traces_sampler=telemetry.traces_sampler,
            traces_sampler_arg=telemetry.traces_sampler_arg,
            sample_rate_override=telemetry.trace_sample_rate,
        )

    @property
    def trace_sample_rate(self) -> float:
        """The override when set, else the environment's default rate."""
        if self.sample_rate_override is not None:
            return self.sample_rate_override
        return SAMPLE_RATES[self.environment]

    @property
    def traces_endpoint(self) -> str | None:
        """Where spans are sent (``otlp_endpoint.resolve_traces_endpoint``); ``None``: no export."""
        return resolve_traces_endpoint(self.otlp_protocol, self.otlp_endpoint, self.otlp_traces_endpoint)

    def headers(self) -> dict[str, str]:
        """The OTLP request headers (gRPC metadata), parsed by the SDK's own parser."""
        return parse_headers(self.otlp_headers)

    def sampler(self) -> Sampler:
        """``OTEL_TRACES_SAMPLER`` when set, else ``ParentBased(TraceIdRatioBased(trace_sample_rate))``.

        The ratio samplers take ``OTEL_TRACES_SAMPLER_ARG``, 1.0 when it is unset (the
        specification's default); the other samplers ignore it.
        """
        if self.traces_sampler is None:
            return ParentBased(TraceIdRatioBased(self.trace_sample_rate))
        ratio = 1.0 if self.traces_sampler_arg is None else self.traces_sampler_arg
        samplers: dict[TracesSampler, Sampler] = {
            "always_on": ALWAYS_ON,
            "always_off": ALWAYS_OFF,
            "traceidratio": TraceIdRatioBased(ratio),
            "parentbased_always_on": ParentBased(ALWAYS_ON),
            "parentbased_always_off": ParentBased(ALWAYS_OFF),
            "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio)),
        }
        return samplers[self.traces_sampler]

    def resource(self) -> Resource:
        """``Resource.create``: telemetry.sdk.*, service.name, service.version, deployment.environment(.name).

        ``resource_attributes`` (``OTEL_RESOURCE_ATTRIBUTES``) win over the environment
        attributes. As the OpenTelemetry specification requires, ``OTEL_SERVICE_NAME``
        (``service_name``) wins over a ``service.name`` given in ``OTEL_RESOURCE_ATTRIBUTES``.
        """
        attributes: dict[str, str] = {
            "deployment.environment": self.environment.value,
            "deployment.environment.name": self.environment.value,
            "service.version": self.service_version,
        }
        attributes.update(self.resource_attributes)
        attributes["service.name"] = self.service_name
        return Resource.create(attributes)


def _otlp_exporter(config: TracingConfiguration, endpoint: str) -> SpanExporter:
    """The OTLP exporter of ``config.otlp_protocol``; the SDK reads its other ``OTEL_*`` itself."""
    headers = config.headers() or None
    if config.otlp_protocol == "grpc":
        # An http:// endpoint means plaintext, https:// TLS (the gRPC exporter reads the scheme).
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, headers=headers)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint, headers=headers)


def configure_tracing(
    config: TracingConfiguration,
    exporter: SpanExporter | None = None,
    *,
    metrics: InfraMetrics | None = None,
    set_global: bool = False,
) -> TracerProvider:
    """Build a tracer provider for ``config`` and return it.

    - With an endpoint set (``config.traces_endpoint``), spans are exported over OTLP with
      ``config.otlp_protocol`` (``http/protobuf`` or ``grpc``) and ``config.headers()``
      through a ``BatchSpanProcessor``.
    - ``exporter`` (e.g. an ``InMemorySpanExporter``) is attached through a
      ``SimpleSpanProcessor``: each span is exported synchronously when it ends.
    - ``metrics`` adds a processor that records every ended span's duration and status in
      ``omnibase_span_duration_seconds``.
    - ``set_global`` installs the provider as OpenTelemetry's global one (the runtime does this
      once; tests never do).

    The caller owns the provider: ``provider.shutdown()`` flushes and stops the exporters.
    """
    provider = TracerProvider(resource=config.resource(), sampler=config.sampler())
    endpoint = config.traces_endpoint
    if endpoint is not None:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(config, endpoint)))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if metrics is not None:
        from omnibase_infra.observability.span_metrics import MetricsSpanProcessor

        provider.add_span_processor(MetricsSpanProcessor(metrics))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


__all__ = [
    "DEFAULT_SERVICE_NAME",
    "SAMPLE_RATES",
    "TracingConfiguration",
    "configure_tracing",
]
