"""The scenarios, by name, in the order a full run executes them; which ones ``--quick`` leaves out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fault_injection.results import ScenarioResult
from fault_injection.scenarios.bad_outbox_rows import run_bad_outbox_rows
from fault_injection.scenarios.broker_freeze import run_broker_freeze
from fault_injection.scenarios.broker_kill import run_broker_kill
from fault_injection.scenarios.credential_rotation import run_credential_rotation
from fault_injection.scenarios.hostile import run_hostile
from fault_injection.scenarios.poison_commands import run_poison_commands
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
    "poison-commands": run_poison_commands,
    "bad-outbox-rows": run_bad_outbox_rows,
    "credential-rotation": run_credential_rotation,
}

NOT_QUICK: frozenset[str] = frozenset({"credential-rotation"})
"""Left out of ``--quick`` (the test suite's run) unless named with ``--scenario``: over a minute
even with a short stream (an OpenBao server, two JVM runs of the broker's ConfigCommand)."""

__all__ = ["NOT_QUICK", "SCENARIOS", "Scenario"]
