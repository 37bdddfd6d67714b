"""The original guide's entry points return the process's components, never copies of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.errors import ConfigurationError, LifecycleError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import get_circuit_breaker
from omnibase_infra.infrastructure.infrastructure_health_monitor import get_health_monitor
from omnibase_infra.infrastructure.kafka_producer_pool_access import get_producer_pool
from omnibase_infra.infrastructure.postgres_connection_manager import get_connection_manager
from omnibase_infra.runtime.process_services import (
    get_audit_logger,
    install_components,
    process_components,
    reset_process_services,
)
from omnibase_infra.runtime.service_components import host_components
from omnibase_infra.settings import load_settings

ENV = {
    "ENVIRONMENT": "staging",
    "POSTGRES_HOST": "db.example",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
}


@pytest.fixture(autouse=True)
def process_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    reset_process_services()
    yield
    reset_process_services()


def test_without_a_service_the_components_are_built_once_from_the_environment() -> None:
    components = process_components()
    assert components.settings.environment.value == "staging"
    assert components.settings.postgres.host == "db.example"
    assert get_connection_manager() is components.database
    assert get_producer_pool() is components.producers
    assert get_health_monitor() is components.monitor
    assert get_circuit_breaker() is components.kafka_breaker
    assert get_circuit_breaker("kafka") is components.kafka_breaker
    assert get_circuit_breaker("postgres") is components.postgres_breaker
    assert get_audit_logger() is components.audit
    assert process_components() is components
    assert not components.database.started  # nothing starts until the caller says so


def test_an_installed_service_set_is_what_every_entry_point_returns() -> None:
    settings = load_settings({**ENV, "ENVIRONMENT": "production"})
    service = asyncio.run(host_components(settings, load_contract_set()))
    install_components(service)
    assert get_connection_manager() is service.database
    assert get_producer_pool() is service.producers
    assert get_health_monitor() is service.monitor
    assert get_circuit_breaker("postgres") is service.postgres_breaker
    assert get_circuit_breaker().config.failure_threshold == 5  # the production contract's


def test_the_package_exposes_the_guides_names_lazily() -> None:
    from omnibase_infra.infrastructure import get_health_monitor as from_package
    from omnibase_infra.infrastructure import initialize_distributed_tracing, initialize_producer_pool

    assert from_package is get_health_monitor
    assert callable(initialize_distributed_tracing) and callable(initialize_producer_pool)
    with pytest.raises(AttributeError, match="no_such_name"):
        from omnibase_infra import infrastructure

        _ = infrastructure.no_such_name  # type: ignore[attr-defined]


def test_an_unknown_breaker_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="no circuit breaker 'vault'; the breakers are kafka, postgres"):
        get_circuit_breaker("vault")


def test_a_bad_environment_is_reported_by_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "sometimes")
    with pytest.raises(ConfigurationError) as caught:
        get_connection_manager()
    assert caught.value.variable == "OTEL_TRACES_SAMPLER"


async def test_the_breakers_reset_is_awaitable_and_recovery_reaches_the_queue() -> None:
    kafka = get_circuit_breaker("kafka")
    kafka.force_open()
    assert kafka.state == "forced_open"
    await kafka.reset_circuit()
    assert kafka.state == "closed"
    # The host builds kafka_adapter's durable publisher (the event queue) with the nodes, so the
    # original guide's get_event_publisher() and the breaker's recovery reach it before start.
    publisher = process_components().event_publisher
    assert publisher is not None
    report = await kafka.recover_queued_events()  # the event publisher's queue: empty
    await publisher.stop()
    assert (report.recovered, report.failed, report.remaining) == (0, 0, 0)
    with pytest.raises(LifecycleError, match="'postgres' guards no event queue"):
        await get_circuit_breaker("postgres").recover_queued_events()


def test_the_monitor_exposes_the_process_metrics() -> None:
    process_components().metrics.set_outbox_pending(42)
    text = get_health_monitor().get_prometheus_metrics()
    assert 'omnibase_outbox_pending{environment="staging"} 42.0' in text
    assert 'omnibase_build_info{environment="staging"' in text
    assert "process_resident_memory_bytes" in text
    assert "python_info" in text
