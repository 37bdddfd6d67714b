"""Facts about node contracts stated once: core keys, kinds, and what each shipped node needs.

The schema builder turns ``SHIPPED_NODE_RULES`` into conditional schema rules, so a
postgres_adapter contract without ``environment_config.postgres_pool`` (or with a
section it does not use) is rejected by the schema itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NodeKind = Literal["EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"]

CORE_KEYS: tuple[str, ...] = (
    "name",
    "contract_version",
    "node_type",
    "description",
    "input_model",
    "output_model",
    "performance",
    "io_operations",
    "algorithm",
    "dependencies",
)
"""Top-level keys handed to omnibase-core's ``ModelContract*``; the rest are ours."""

KIND_OF_NODE_TYPE: dict[str, NodeKind] = {
    "EFFECT_GENERIC": "EFFECT",
    "COMPUTE_GENERIC": "COMPUTE",
    "REDUCER_GENERIC": "REDUCER",
    "ORCHESTRATOR_GENERIC": "ORCHESTRATOR",
}

CORE_KEYS_REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {
    "EFFECT_GENERIC": ("io_operations",),
    "COMPUTE_GENERIC": ("performance", "algorithm"),
    "REDUCER_GENERIC": (),
    "ORCHESTRATOR_GENERIC": ("performance",),
}
CORE_KEYS_FORBIDDEN_BY_TYPE: dict[str, tuple[str, ...]] = {
    "EFFECT_GENERIC": ("algorithm",),
    "COMPUTE_GENERIC": ("io_operations",),
    "REDUCER_GENERIC": ("io_operations", "algorithm"),
    "ORCHESTRATOR_GENERIC": ("io_operations", "algorithm"),
}

ENVIRONMENT_SECTIONS: tuple[str, ...] = (
    "circuit_breaker",
    "postgres_pool",
    "kafka_producer",
    "kafka_consumer",
    "batching",
    "workflow_runtime",
)


BREAKER_THRESHOLD_KEYS: tuple[str, ...] = (
    "failure_threshold",
    "recovery_timeout",
    "success_threshold",
    "timeout_seconds",
)
"""Keys every ``circuit_breaker`` block carries: what the breaker itself reads."""

BREAKER_POLICY_KEYS: tuple[str, ...] = ("max_queue_size", "dead_letter_enabled", "graceful_degradation")
"""Policy keys read by the breaker's users, not the breaker; each node carries only its own."""


@dataclass(frozen=True)
class ShippedNodeRule:
    """What a shipped node's contract must look like beyond the common schema.

    ``environment_sections`` are exactly the sections the runtime reads for this node;
    ``breaker_policy`` the policy keys its breaker's users read (only with a
    ``circuit_breaker`` section). A section or key nothing reads is rejected.
    """

    node_type: str
    environment_sections: tuple[str, ...]
    has_operations: bool = False
    breaker_policy: tuple[str, ...] = ()


SHIPPED_NODE_RULES: dict[str, ShippedNodeRule] = {
    # The postgres breaker guards every statement; nothing queues or parks behind it.
    "postgres_adapter": ShippedNodeRule(
        "EFFECT_GENERIC", ("circuit_breaker", "postgres_pool"), has_operations=True
    ),
    # The kafka breaker guards every publish: its event queue (max_queue_size), the spill to
    # the outbox (graceful_degradation) and the parking of failing events and outbox rows
    # (dead_letter_enabled) read its policy.
    "kafka_adapter": ShippedNodeRule(
        "EFFECT_GENERIC",
        ("circuit_breaker", "kafka_producer", "kafka_consumer"),
        breaker_policy=BREAKER_POLICY_KEYS,
    ),
    # Pure computation, routing and folding make no call a breaker could guard.
    "message_aggregator": ShippedNodeRule("COMPUTE_GENERIC", ("batching",)),
    "kafka_wrapper": ShippedNodeRule("COMPUTE_GENERIC", ()),
    "group_gateway": ShippedNodeRule("ORCHESTRATOR_GENERIC", ()),
    "infrastructure_reducer": ShippedNodeRule("REDUCER_GENERIC", ()),
    "infrastructure_orchestrator": ShippedNodeRule("ORCHESTRATOR_GENERIC", ("workflow_runtime",)),
    # The vault breaker guards reads of the store; graceful_degradation serves the last
    # credentials read while it is open.
    "vault_adapter": ShippedNodeRule(
        "EFFECT_GENERIC", ("circuit_breaker",), breaker_policy=("graceful_degradation",)
    ),
}

__all__ = [
    "BREAKER_POLICY_KEYS",
    "BREAKER_THRESHOLD_KEYS",
    "CORE_KEYS",
    "CORE_KEYS_FORBIDDEN_BY_TYPE",
    "CORE_KEYS_REQUIRED_BY_TYPE",
    "ENVIRONMENT_SECTIONS",
    "KIND_OF_NODE_TYPE",
    "SHIPPED_NODE_RULES",
    "NodeKind",
    "ShippedNodeRule",
]
