"""The scenarios, by name, in the order a full run executes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fault_injection.results import ScenarioResult
from fault_injection.scenarios.bad_outbox_rows import run_bad_outbox_rows
from fault_injection.scenarios.broker_freeze import run_broker_freeze
from fault_injection.scenarios.broker_kill import run_broker_kill
from fault_injection.scenarios.hostile import run_hostile
from fault_injection.scenarios.postgres_restart import run_postgres_restart
from fault_injection.scenarios.scale_out import run_scale_out
from fault_injection.scenarios.service_kill import run_service_kill
from fault_injection.streaming import RunContext

Scenario = Callable[[RunContext], Awaitable[ScenarioResult]]

SCENARIOS: dict[str, Scenario] = {
    "service-kill": run_service_kill,
    "postgres-restart": run_postgres_restart,
    "broker-kill": run_broker_kill,
    "broker-freeze": run_broker_freeze,
    "scale-out": run_scale_out,
    "hostile": run_hostile,
    "bad-outbox-rows": run_bad_outbox_rows,
}

__all__ = ["SCENARIOS", "Scenario"]
