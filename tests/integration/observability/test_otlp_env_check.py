"""``onex-infra env check`` probes the OTLP endpoint with the exporter's protocol and headers.

The checks run in this process (``env_command.run_checks``) against real receivers of both
protocols that refuse requests without the collector's credentials.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from service_harness import free_port

from omnibase_infra.cli.env_checks import CheckResult
from omnibase_infra.cli.env_command import run_checks

if TYPE_CHECKING:
    from conftest import OtlpReceiver  # the fixture module of this directory

TOKEN = "t0ken-for-the-collector"


def _environ(**otel: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return base | otel


async def _otlp(environ: dict[str, str]) -> CheckResult:
    _, results = await run_checks(environ, timeout_seconds=5.0)
    (otlp,) = [r for r in results if r.group == "otlp"]
    return otlp


async def test_the_probe_sends_the_headers_over_the_configured_protocol(otlp_receivers: OtlpReceiver) -> None:
    receiver = otlp_receivers
    receiver.required_headers = {"api-key": TOKEN}
    good = await _otlp(
        _environ(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_EXPORTER_OTLP_PROTOCOL=receiver.protocol,
            OTEL_EXPORTER_OTLP_HEADERS=f"api-key={TOKEN}",
        )
    )
    assert good.status == "pass", good
    assert f"({receiver.protocol}) answered" in good.detail
    assert receiver.headers[-1]["api-key"] == TOKEN
    assert TOKEN not in good.detail + good.hint

    refused = await _otlp(
        _environ(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL=receiver.protocol)
    )
    assert refused.status == "fail", refused
    assert "401" in refused.detail or "UNAUTHENTICATED" in refused.detail
    assert "OTEL_EXPORTER_OTLP_[TRACES_]HEADERS" in refused.hint
    assert "api-key" not in receiver.headers[-1]


async def test_the_per_signal_variables_are_what_the_probe_uses(otlp_grpc_receiver: OtlpReceiver) -> None:
    receiver = otlp_grpc_receiver
    receiver.required_headers = {"api-key": TOKEN}
    result = await _otlp(
        _environ(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
            OTEL_EXPORTER_OTLP_HEADERS="api-key=wrong",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.url,
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc",
            OTEL_EXPORTER_OTLP_TRACES_HEADERS=f"api-key={TOKEN}",
        )
    )
    assert result.status == "pass", result
    assert result.detail.startswith(f"{receiver.url} (grpc) answered gRPC OK")


async def test_a_grpc_probe_of_a_closed_port_names_the_collector() -> None:
    result = await _otlp(
        _environ(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc"
        )
    )
    assert result.status == "fail"
    assert "connection refused" in result.detail
    assert "collector running" in result.hint
