"""TracingConfiguration and configure_tracing: sampling per environment, resource, exporters."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased

from omnibase_infra import __version__
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.observability.tracing import SAMPLE_RATES, TracingConfiguration, configure_tracing
from omnibase_infra.settings import load_settings

BASE_ENV = {
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
}


@pytest.mark.parametrize(
    ("environment", "rate"),
    [(EnumEnvironment.PRODUCTION, 0.1), (EnumEnvironment.STAGING, 0.5), (EnumEnvironment.DEVELOPMENT, 1.0)],
)
def test_sample_rate_follows_the_environment(environment: EnumEnvironment, rate: float) -> None:
    assert TracingConfiguration(environment=environment).trace_sample_rate == rate
    assert SAMPLE_RATES[environment] == rate


def test_sample_rate_override_wins_over_the_environment() -> None:
    config = TracingConfiguration(environment=EnumEnvironment.PRODUCTION, sample_rate_override=0.75)
    assert config.trace_sample_rate == 0.75


def test_environment_defaults_to_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "ENV", "DEPLOYMENT_ENV", "NODE_ENV", "OMNIBASE_ENV", "ONEX_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENV", "stg")
    assert TracingConfiguration().environment is EnumEnvironment.STAGING
    assert TracingConfiguration().trace_sample_rate == 0.5


def test_unrecognised_environment_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "moon")
    with pytest.raises(ConfigurationError) as caught:
        TracingConfiguration()
    assert caught.value.variable == "ENVIRONMENT"


def test_from_settings_reads_otel_variables() -> None:
    settings = load_settings(
        {
            **BASE_ENV,
            "ENVIRONMENT": "production",
            "OTEL_TRACE_SAMPLE_RATE": "0.25",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_SERVICE_NAME": "onex-test",
            "OTEL_RESOURCE_ATTRIBUTES": "team=infra,region=eu",
        }
    )
    config = TracingConfiguration.from_settings(settings)
    assert config.environment is EnumEnvironment.PRODUCTION
    assert config.trace_sample_rate == 0.25
    assert config.traces_endpoint == "http://collector:4318/v1/traces"
    attributes = config.resource().attributes
    assert attributes["service.name"] == "onex-test"
    assert attributes["team"] == "infra"
    assert attributes["region"] == "eu"


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
        ("https://gw.example/otlp", "https://gw.example/otlp/v1/traces"),
        (None, None),
        ("", None),
    ],
)
def test_traces_endpoint_appends_the_signal_path_once(endpoint: str | None, expected: str | None) -> None:
    config = TracingConfiguration(environment=EnumEnvironment.DEVELOPMENT, otlp_endpoint=endpoint)
    assert config.traces_endpoint == expected


def test_resource_names_service_version_and_environment() -> None:
    config = TracingConfiguration(
        environment=EnumEnvironment.STAGING,
        resource_attributes={"service.name": "ignored", "k8s.pod.name": "pod-1"},
    )
    attributes = config.resource().attributes
    assert attributes["service.name"] == "omnibase_infrastructure"  # OTEL_SERVICE_NAME wins
    assert attributes["service.version"] == __version__
    assert attributes["deployment.environment"] == "staging"
    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["k8s.pod.name"] == "pod-1"


def test_sampler_is_parent_based_ratio() -> None:
    sampler = TracingConfiguration(environment=EnumEnvironment.PRODUCTION).sampler()
    assert isinstance(sampler, ParentBased)
    assert "TraceIdRatioBased{0.1}" in sampler.get_description()


def test_zero_rate_drops_roots_but_follows_a_sampled_parent() -> None:
    exporter = InMemorySpanExporter()
    config = TracingConfiguration(environment=EnumEnvironment.PRODUCTION, sample_rate_override=0.0)
    provider = configure_tracing(config, exporter=exporter)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root") as root:
        assert not root.get_span_context().trace_flags.sampled
    remote = trace.SpanContext(
        trace_id=0x1234, span_id=0x99, is_remote=True, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED)
    )
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote), Context())
    with tracer.start_as_current_span("child", context=parent) as child:
        assert child.get_span_context().trace_flags.sampled
    assert [span.name for span in exporter.get_finished_spans()] == ["child"]
    provider.shutdown()


def test_configure_tracing_exports_to_the_injected_exporter_without_touching_the_global_provider() -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing(
        TracingConfiguration(environment=EnumEnvironment.DEVELOPMENT), exporter=exporter
    )
    assert isinstance(provider, TracerProvider)
    assert trace.get_tracer_provider() is not provider
    with provider.get_tracer("t").start_as_current_span("work"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.name == "work"
    assert span.resource.attributes["service.name"] == "omnibase_infrastructure"
    provider.shutdown()


def test_configure_tracing_with_an_endpoint_adds_a_batch_otlp_exporter() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    config = TracingConfiguration(environment=EnumEnvironment.DEVELOPMENT, otlp_endpoint="http://127.0.0.1:9")
    provider = configure_tracing(config)
    processors = provider._active_span_processor._span_processors  # no public accessor
    batch = [p for p in processors if isinstance(p, BatchSpanProcessor)]
    assert len(batch) == 1
    exporter = batch[0]._batch_processor._exporter  # no public accessor
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://127.0.0.1:9/v1/traces"
    provider.shutdown()


@pytest.mark.parametrize(
    ("sampler", "argument", "description"),
    [
        ("always_on", None, "AlwaysOnSampler"),
        ("always_off", None, "AlwaysOffSampler"),
        ("traceidratio", "0.3", "TraceIdRatioBased{0.3}"),
        ("traceidratio", None, "TraceIdRatioBased{1.0}"),
        ("parentbased_always_on", None, "ParentBased{root:AlwaysOnSampler"),
        ("parentbased_always_off", None, "ParentBased{root:AlwaysOffSampler"),
        ("parentbased_traceidratio", "0.2", "ParentBased{root:TraceIdRatioBased{0.2}"),
    ],
)
def test_otel_traces_sampler_wins_over_the_service_rate(
    sampler: str, argument: str | None, description: str
) -> None:
    env = {**BASE_ENV, "ENVIRONMENT": "production", "OTEL_TRACE_SAMPLE_RATE": "0.7"}
    env["OTEL_TRACES_SAMPLER"] = sampler
    if argument is not None:
        env["OTEL_TRACES_SAMPLER_ARG"] = argument
    config = TracingConfiguration.from_settings(load_settings(env))
    assert config.sampler().get_description().startswith(description)
    assert "0.7" not in config.sampler().get_description()


def test_without_otel_traces_sampler_the_rate_and_then_the_environment_decide() -> None:
    only_rate = {**BASE_ENV, "ENVIRONMENT": "production", "OTEL_TRACE_SAMPLE_RATE": "0.7"}
    described = TracingConfiguration.from_settings(load_settings(only_rate)).sampler().get_description()
    assert described.startswith("ParentBased{root:TraceIdRatioBased{0.7}")
    # The specification ignores OTEL_TRACES_SAMPLER_ARG without OTEL_TRACES_SAMPLER.
    argument_only = {**BASE_ENV, "ENVIRONMENT": "staging", "OTEL_TRACES_SAMPLER_ARG": "0.9"}
    described = TracingConfiguration.from_settings(load_settings(argument_only)).sampler().get_description()
    assert described.startswith("ParentBased{root:TraceIdRatioBased{0.5}")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("OTEL_TRACES_SAMPLER_ARG", "half"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"),
    ],
)
def test_a_bad_otel_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE_ENV, "OTEL_TRACES_SAMPLER": "traceidratio", variable: value})
    assert caught.value.variable == variable


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"])
def test_malformed_headers_are_named_without_their_value(variable: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE_ENV, variable: "api-key=s3cr3t,garbage"})
    assert caught.value.variable == variable
    assert "s3cr3t" not in str(caught.value)


def test_per_signal_variables_win_over_the_general_ones() -> None:
    settings = load_settings(
        {
            **BASE_ENV,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://general:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=general",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=Bearer%20t0ken,x-tenant=blue",
        }
    )
    config = TracingConfiguration.from_settings(settings)
    assert config.otlp_protocol == "grpc"
    assert config.traces_endpoint == "http://traces:4317"
    # Replaced, not merged; keys lower-cased as gRPC metadata requires; values URL-decoded.
    assert config.headers() == {"authorization": "Bearer t0ken", "x-tenant": "blue"}
    assert "t0ken" not in repr(settings)
    assert "t0ken" not in repr(config)


def test_headers_may_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "headers"
    secret.write_text("api-key=from-file\n")
    settings = load_settings({**BASE_ENV, "OTEL_EXPORTER_OTLP_HEADERS_FILE": str(secret)})
    assert TracingConfiguration.from_settings(settings).headers() == {"api-key": "from-file"}


@pytest.mark.parametrize(
    ("protocol", "endpoint", "traces_endpoint", "expected"),
    [
        ("grpc", "http://collector:4317", None, "http://collector:4317"),
        ("grpc", "collector:4317", None, "collector:4317"),
        ("http/protobuf", "http://collector:4318", "http://other:4318/custom", "http://other:4318/custom"),
        ("grpc", None, "https://collector:4317", "https://collector:4317"),
        ("grpc", None, None, None),
    ],
)
def test_traces_endpoint_follows_the_protocol(
    protocol: str, endpoint: str | None, traces_endpoint: str | None, expected: str | None
) -> None:
    config = TracingConfiguration(
        environment=EnumEnvironment.DEVELOPMENT,
        otlp_protocol=protocol,  # type: ignore[arg-type]
        otlp_endpoint=endpoint,
        otlp_traces_endpoint=traces_endpoint,
    )
    assert config.traces_endpoint == expected


def test_resource_keeps_the_sdk_attributes_and_reads_otel_resource_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "service.namespace=omnibase,deployment.environment=prod-eu"
    )
    attributes = TracingConfiguration(environment=EnumEnvironment.PRODUCTION).resource().attributes
    assert attributes["telemetry.sdk.language"] == "python"
    assert attributes["telemetry.sdk.name"] == "opentelemetry"
    assert attributes["telemetry.sdk.version"]
    assert attributes["service.namespace"] == "omnibase"
    # The service's attributes are set over the SDK's own reading of the variable (through the
    # settings, OTEL_RESOURCE_ATTRIBUTES is also resource_attributes, which win: see above).
    assert attributes["deployment.environment"] == "production"
    assert attributes["service.name"] == "omnibase_infrastructure"


def test_configure_tracing_over_grpc_uses_the_grpc_exporter_with_the_headers() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from pydantic import SecretStr

    config = TracingConfiguration(
        environment=EnumEnvironment.DEVELOPMENT,
        otlp_endpoint="http://127.0.0.1:9",
        otlp_protocol="grpc",
        otlp_headers=SecretStr("api-key=abc"),
    )
    provider = configure_tracing(config)
    processors = provider._active_span_processor._span_processors  # no public accessor
    (batch,) = [p for p in processors if isinstance(p, BatchSpanProcessor)]
    exporter = batch._batch_processor._exporter  # no public accessor
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "127.0.0.1:9"  # the gRPC exporter keeps host:port
    assert exporter._insecure  # http:// means plaintext
    assert ("api-key", "abc") in exporter._headers
    provider.shutdown()
