"""Where and how spans are sent over OTLP, resolved once for the exporter and for ``env check``.

Light on purpose (no OpenTelemetry SDK import): ``onex-infra env check`` probes exactly the
URL and headers the service's exporter uses, and both read them from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import SecretStr

    from omnibase_infra.settings import OtlpProtocol

OTLP_TRACES_PATH = "/v1/traces"


def resolve_traces_endpoint(
    protocol: OtlpProtocol, endpoint: str | None, traces_endpoint: str | None
) -> str | None:
    """The traces endpoint as the OTLP exporter specification resolves it; ``None``: no export.

    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (``traces_endpoint``) is used as it is. The
    general ``OTEL_EXPORTER_OTLP_ENDPOINT`` gets ``/v1/traces`` appended (not doubled) over
    ``http/protobuf`` and is used as it is over ``grpc``.
    """
    if traces_endpoint:
        return traces_endpoint
    if not endpoint:
        return None
    if protocol == "grpc":
        return endpoint
    base = endpoint.rstrip("/")
    return base if base.endswith(OTLP_TRACES_PATH) else base + OTLP_TRACES_PATH


def parse_headers(raw: SecretStr | None) -> dict[str, str]:
    """``key=value,key=value`` (URL-encoded values) as the SDK parses ``OTEL_EXPORTER_OTLP_HEADERS``.

    Keys come back lower-cased, as gRPC metadata requires.
    """
    if raw is None:
        return {}
    from opentelemetry.util.re import parse_env_headers

    return dict(parse_env_headers(raw.get_secret_value(), liberal=True))


__all__ = ["OTLP_TRACES_PATH", "parse_headers", "resolve_traces_endpoint"]
