"""process_metrics: the standard process/python collectors and omnibase_build_info on a given registry."""

from __future__ import annotations

import sys
from importlib.metadata import version

import pytest
from prometheus_client import CollectorRegistry

from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.observability.process_metrics import (
    UNKNOWN_VERSION,
    distribution_version,
    register_process_collectors,
)


def _samples(registry: CollectorRegistry) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for family in registry.collect():
        for sample in family.samples:
            found.setdefault(sample.name, []).append(dict(sample.labels))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ProcessCollector reads /proc")
def test_process_and_python_collectors_are_on_the_given_registry() -> None:
    registry = CollectorRegistry()
    register_process_collectors(registry)
    samples = _samples(registry)
    for name in (
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
        "python_info",
        "python_gc_objects_collected_total",
    ):
        assert name in samples, name
    assert (registry.get_sample_value("process_resident_memory_bytes") or 0) > 0
    assert (registry.get_sample_value("process_open_fds") or 0) > 0
    assert all(len(samples[name]) == 1 for name in ("process_resident_memory_bytes", "process_open_fds"))
    (info,) = samples["python_info"]
    assert info["major"] == str(sys.version_info.major)


def test_build_info_names_both_versions_and_the_environment() -> None:
    registry = CollectorRegistry()
    InfraMetrics(registry, "staging")
    labels = {
        "version": version("omnibase_infra"),
        "omnibase_core_version": version("omnibase-core"),
        "environment": "staging",
    }
    assert registry.get_sample_value("omnibase_build_info", labels) == 1.0
    assert len(_samples(registry)["omnibase_build_info"]) == 1


def test_an_absent_distribution_reads_unknown() -> None:
    assert distribution_version("omnibase-no-such-distribution") == UNKNOWN_VERSION
