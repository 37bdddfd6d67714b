"""What the service really uses, read from its code: variables, ports, HTTP paths, metrics.

The docs and deploy tests compare README.md, docs/ and deploy/ against these facts, so a
renamed variable, port, route or metric fails a test instead of leaving a stale document.

- ``environment_variables()``: every variable ``load_settings`` (``settings.py``) and the
  credential-store settings (``infrastructure/vault_settings.py``) read, found in their source
  as the string literal a reader call receives (``r.text("POSTGRES_HOST")``,
  ``_text(environ, "VAULT_ADDR")``...), with ``<NAME>_FILE`` for secrets, plus the
  environment-detection variables.
- ``health_routes()`` / ``metrics_routes()``: the paths of the two HTTP applications.
- ``exported_metric_names()``: every sample name the metrics registry can expose.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

REPO_ROOT = Path(__file__).resolve().parents[1]
SRC = REPO_ROOT / "src" / "omnibase_infra"
SETTINGS_SOURCES = (SRC / "settings.py", SRC / "infrastructure" / "vault_settings.py")
NODES = SRC / "nodes"

_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*[A-Z0-9]$")
_READERS = {"text", "parsed", "secret", "_text", "_secret", "_seconds"}
_SECRET_READERS = {"secret", "_secret"}
METRIC_NAME = re.compile(r"\bomnibase_[a-z0-9_]*[a-z0-9]\b")


@dataclass(frozen=True)
class ReadVariable:
    name: str
    secret: bool
    source: str


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


@cache
def read_variables() -> dict[str, ReadVariable]:
    """Variables read by the settings readers, by name (``_FILE`` variants not included)."""
    found: dict[str, ReadVariable] = {}
    for path in SETTINGS_SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _call_name(node) not in _READERS:
                continue
            literal = next(
                (
                    arg.value
                    for arg in node.args
                    if isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and _VARIABLE.match(arg.value)
                ),
                None,
            )
            if literal is None:
                continue
            secret = _call_name(node) in _SECRET_READERS
            previous = found.get(literal)
            found[literal] = ReadVariable(
                literal, secret or (previous.secret if previous else False), path.name
            )
    return found


@cache
def environment_variables() -> frozenset[str]:
    """Every variable name the service reads, ``<NAME>_FILE`` variants of secrets included."""
    from omnibase_infra.environment import ENVIRONMENT_VARIABLES

    names = set(ENVIRONMENT_VARIABLES)
    for variable in read_variables().values():
        names.add(variable.name)
        if variable.secret:
            names.add(f"{variable.name}_FILE")
    return frozenset(names)


def default_ports() -> tuple[int, int]:
    """(HEALTH_CHECK_PORT, PROMETHEUS_METRICS_PORT) defaults of the settings model."""
    from omnibase_infra.settings import ModelInfraSettings

    fields = ModelInfraSettings.model_fields
    return int(fields["health_check_port"].default), int(fields["prometheus_metrics_port"].default)


class _Admin:
    def breaker_names(self) -> list[str]:
        return ["postgres", "kafka"]

    async def reset_breaker(self, name: str) -> str:
        return "closed"


class _Provider:
    async def health(self) -> object:
        raise AssertionError("only the app's routes are read; no request is served")

    async def readiness(self) -> tuple[bool, list[str]]:
        return True, []


def _paths(app: object) -> frozenset[str]:
    router = app.router  # type: ignore[attr-defined]
    return frozenset(resource.canonical for resource in router.resources())


@cache
def health_routes() -> frozenset[str]:
    """Paths served on HEALTH_CHECK_PORT (with the admin route enabled)."""
    from omnibase_infra.observability.http_server import build_health_app
    from omnibase_infra.observability.metrics import InfraMetrics

    metrics = InfraMetrics(CollectorRegistry(), "test")
    app = build_health_app(_Provider(), metrics, _Admin(), SecretStr("token"))  # type: ignore[arg-type]
    return _paths(app)


@cache
def metrics_routes() -> frozenset[str]:
    """Paths served on PROMETHEUS_METRICS_PORT."""
    from omnibase_infra.observability.http_server import build_metrics_app
    from omnibase_infra.observability.metrics import InfraMetrics

    return _paths(build_metrics_app(InfraMetrics(CollectorRegistry(), "test")))


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


@cache
def exported_metric_names() -> frozenset[str]:
    """Every sample name ``InfraMetrics`` can expose (families with their type's suffixes)."""
    from omnibase_infra.observability.metrics import InfraMetrics

    registry = CollectorRegistry()
    InfraMetrics(registry, "test")
    names: set[str] = set()
    for family in registry.collect():
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return frozenset(names)


def shipped_contracts() -> list[Path]:
    """The node contracts shipped in the package."""
    return sorted(NODES.glob("*/v*/contract.yaml"))


__all__ = [
    "METRIC_NAME",
    "REPO_ROOT",
    "ReadVariable",
    "default_ports",
    "environment_variables",
    "exported_metric_names",
    "health_routes",
    "metrics_routes",
    "read_variables",
    "shipped_contracts",
]
