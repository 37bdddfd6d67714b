"""OpenTelemetry tracing set-up: sampling per environment, resource, OTLP/HTTP export.

``TracingConfiguration`` holds what the tracer provider needs; ``configure_tracing``
builds a ``TracerProvider`` from it. Nothing here touches the global provider unless
asked (``set_global=True``), so tests build as many isolated providers as they like.

Sampling: ``ParentBased(TraceIdRatioBased(rate))``. The rate is the seed's per-environment
default (production 0.1, staging 0.5, development 1.0) unless ``OTEL_TRACE_SAMPLE_RATE``
overrides it. Parent-based means a message whose producer sampled its trace is always
traced by us too (and one whose producer did not, never is), so a trace is never cut in half.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra import __version__
from omnibase_infra.environment import EnumEnvironment, detect_environment

if TYPE_CHECKING:
    from omnibase_infra.observability.metrics import InfraMetrics
    from omnibase_infra.settings import ModelInfraSettings

DEFAULT_SERVICE_NAME = "omnibase_infrastructure"
OTLP_TRACES_PATH = "/v1/traces"

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
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    sample_rate_override: float | None = Field(default=None, ge=0.0, le=1.0)

    @classmethod
    def from_settings(cls, settings: ModelInfraSettings) -> TracingConfiguration:
        """Build from the service settings (``OTEL_*`` variables and the detected environment)."""
        telemetry = settings.telemetry
        return cls(
            environment=settings.environment,
            service_name=telemetry.service_name,
            otlp_endpoint=telemetry.otlp_endpoint,
            resource_attributes=dict(telemetry.resource_attributes),
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
        """The OTLP/HTTP traces URL: ``<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`` (not doubled)."""
        if not self.otlp_endpoint:
            return None
        base = self.otlp_endpoint.rstrip("/")
        return base if base.endswith(OTLP_TRACES_PATH) else base + OTLP_TRACES_PATH

    def sampler(self) -> Sampler:
        """``ParentBased(TraceIdRatioBased(trace_sample_rate))``."""
        return ParentBased(TraceIdRatioBased(self.trace_sample_rate))

    def resource(self) -> Resource:
        """service.name, service.version, deployment.environment(.name) and OTEL_RESOURCE_ATTRIBUTES.

        As the OpenTelemetry specification requires, ``OTEL_SERVICE_NAME`` (``service_name``)
        wins over a ``service.name`` given in ``OTEL_RESOURCE_ATTRIBUTES``.
        """
        attributes: dict[str, str] = {
            "deployment.environment": self.environment.value,
            "deployment.environment.name": self.environment.value,
            "service.version": self.service_version,
        }
        attributes.update(self.resource_attributes)
        attributes["service.name"] = self.service_name
        return Resource(attributes)


def configure_tracing(
    config: TracingConfiguration,
    exporter: SpanExporter | None = None,
    *,
    metrics: InfraMetrics | None = None,
    set_global: bool = False,
) -> TracerProvider:
    """Build a tracer provider for ``config`` and return it.

    - With ``config.otlp_endpoint`` set, spans are exported over OTLP/HTTP (protobuf) to
      ``config.traces_endpoint`` through a ``BatchSpanProcessor``.
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
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
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
