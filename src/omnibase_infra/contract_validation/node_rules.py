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


@dataclass(frozen=True)
class ShippedNodeRule:
    """What a shipped node's contract must look like beyond the common schema."""

    node_type: str
    environment_sections: tuple[str, ...]
    has_operations: bool = False


SHIPPED_NODE_RULES: dict[str, ShippedNodeRule] = {
    "postgres_adapter": ShippedNodeRule(
        "EFFECT_GENERIC", ("circuit_breaker", "postgres_pool"), has_operations=True
    ),
    "kafka_adapter": ShippedNodeRule(
        "EFFECT_GENERIC", ("circuit_breaker", "kafka_producer", "kafka_consumer")
    ),
    "message_aggregator": ShippedNodeRule("COMPUTE_GENERIC", ("circuit_breaker", "batching")),
    "infrastructure_reducer": ShippedNodeRule("REDUCER_GENERIC", ("circuit_breaker",)),
    "infrastructure_orchestrator": ShippedNodeRule(
        "ORCHESTRATOR_GENERIC", ("circuit_breaker", "workflow_runtime")
    ),
    "vault_adapter": ShippedNodeRule("EFFECT_GENERIC", ("circuit_breaker",)),
}

__all__ = [
    "CORE_KEYS",
    "CORE_KEYS_FORBIDDEN_BY_TYPE",
    "CORE_KEYS_REQUIRED_BY_TYPE",
    "ENVIRONMENT_SECTIONS",
    "KIND_OF_NODE_TYPE",
    "SHIPPED_NODE_RULES",
    "NodeKind",
    "ShippedNodeRule",
]
