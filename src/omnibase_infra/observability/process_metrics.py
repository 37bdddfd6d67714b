"""The standard process metrics and the build-info series, on the service's own registry.

The service exposes an injected ``CollectorRegistry`` rather than prometheus-client's global
one, so the collectors that library registers globally by default are registered here:

- ``process_*`` (``ProcessCollector``): resident and virtual memory, CPU seconds, open and
  maximum file descriptors, start time (read from ``/proc``; absent on systems without it);
- ``python_info`` (``PlatformCollector``): the interpreter's version and implementation;
- ``python_gc_*`` (``GCCollector``): collections, collected and uncollectable objects per generation;
- ``omnibase_build_info{version, omnibase_core_version, environment}`` gauge, always 1: which
  release runs where (join it to other series with ``* on(instance) group_left(version)``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

UNKNOWN_VERSION = "unknown"


def distribution_version(name: str) -> str:
    """The installed version of distribution ``name``; ``"unknown"`` when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


def register_process_collectors(registry: CollectorRegistry) -> None:
    """Register the ``process_*``, ``python_info`` and ``python_gc_*`` collectors in ``registry``.

    Call it once per registry: these collectors do not describe themselves, so prometheus-client
    cannot refuse a second registration, which would expose every sample twice.
    """
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


def register_build_info(registry: CollectorRegistry, environment: str) -> Gauge:
    """``omnibase_build_info`` = 1 with this release's and omnibase-core's versions as labels."""
    gauge = Gauge(
        "omnibase_build_info",
        "1, labelled with the running release: omnibase_infra and omnibase-core versions",
        ["version", "omnibase_core_version", "environment"],
        registry=registry,
    )
    gauge.labels(
        distribution_version("omnibase_infra"), distribution_version("omnibase-core"), environment
    ).set(1)
    return gauge


__all__ = [
    "UNKNOWN_VERSION",
    "distribution_version",
    "register_build_info",
    "register_process_collectors",
]
