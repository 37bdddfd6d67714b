"""Importing the observability package (or its light modules) stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("aiohttp", "opentelemetry.sdk", "opentelemetry.exporter", "asyncpg", "aiokafka")


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("omnibase_infra.observability", ()),
        ("omnibase_infra.observability.metrics", ()),
        ("omnibase_infra.observability.redaction", ()),
        ("omnibase_infra.observability.logging", ()),
        ("omnibase_infra.observability.tracing", ("opentelemetry.sdk",)),
        # env check imports these; the OTLP exporters and grpc load only to export or probe
        ("omnibase_infra.observability.otlp_endpoint", ()),
        ("omnibase_infra.observability.process_metrics", ()),
        ("omnibase_infra.cli.env_servers", ()),
    ],
)
def test_import_leaves_heavy_modules_out(module: str, allowed: tuple[str, ...]) -> None:
    code = (
        f"import sys, {module}\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules and m not in {allowed!r}]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
