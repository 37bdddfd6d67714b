"""The batch processor's observer: metrics and audit for every operation, never raising."""

from __future__ import annotations

import uuid

from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from prometheus_client import CollectorRegistry
from pydantic import JsonValue

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_catalog import ContractOperationCatalog
from omnibase_infra.observability.audit import AuditLogger
from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.runtime.service_observers import MetricsAndAuditObserver
from omnibase_infra.workflow.records import OperationOutcome, SourceRecord, WriteResult


def test_a_command_with_an_empty_operation_name_is_audited_without_raising() -> None:
    observer = MetricsAndAuditObserver(
        InfraMetrics(CollectorRegistry(), "development"),
        AuditLogger(None, environment="development"),
        ContractOperationCatalog([]),
    )
    request = ModelEventEnvelope[JsonValue](
        payload={"operation": "", "parameters": {}}, correlation_id=uuid.uuid4()
    )
    poison = PoisonRecordError("operation", "UnknownOperation", "no operation named ''")
    outcome = OperationOutcome("onex.evt.failed.v1", b"{}", uuid.uuid4(), False, poison)
    source = SourceRecord("onex.cmd.postgres.operation.v1", 0, 7, None, b"{}", ())

    observer.on_operation(source, request, outcome)


def test_rows_the_store_already_held_are_counted_as_duplicates() -> None:
    registry = CollectorRegistry()
    observer = MetricsAndAuditObserver(
        InfraMetrics(registry, "development"),
        AuditLogger(None, environment="development"),
        ContractOperationCatalog([]),
    )
    labels = {"environment": "development"}

    observer.on_stored(WriteResult(inserted=10, duplicates=0, rejected=()), [])
    assert registry.get_sample_value("omnibase_event_store_duplicates_total", labels) in (None, 0.0)
    observer.on_stored(WriteResult(inserted=2, duplicates=8, rejected=()), [])
    observer.on_stored(WriteResult(inserted=0, duplicates=5, rejected=()), [])

    assert registry.get_sample_value("omnibase_event_store_duplicates_total", labels) == 13
