"""The validated contracts as the runtime consumes them: typed, frozen, no ``Any``.

``ContractSet`` holds every node contract (shipped and extra) and every composition.
A ``LoadedNodeContract`` answers per-environment questions::

    node = contract_set.node("postgres_adapter")
    node.circuit_breaker(EnumEnvironment.PRODUCTION)       # ModelCircuitBreakerConfig
    node.postgres_pool("staging").apply_to(settings.postgres)
    node.operation("get_event_by_id").parameters_schema

Extra operation files are already merged into their target node's ``operations``.
Only ``load_contract_set`` builds these objects, after validation succeeded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.contract_validation.model_contract_sections import (
    DEAD_LETTER_SUFFIX,
    ModelCapability,
    ModelNodeEnvironmentConfig,
    ModelProtocolDependency,
    ModelSemVerValue,
    ModelTopicsSection,
    TopicUse,
)
from omnibase_infra.contract_validation.model_environment_settings import (
    ModelBatchingSettings,
    ModelKafkaConsumerSettings,
    ModelKafkaProducerSettings,
    ModelPerEnvironment,
    ModelPostgresPoolSettings,
    ModelWorkflowRuntimeSettings,
)
from omnibase_infra.contract_validation.model_node_document import ModelNodeContractDocument
from omnibase_infra.contract_validation.model_operations import ModelOperationDefinition
from omnibase_infra.contract_validation.model_workflows import (
    ModelCompositionDocument,
    ModelWorkflow,
    WorkflowTrigger,
)
from omnibase_infra.contract_validation.node_rules import CORE_KEYS, KIND_OF_NODE_TYPE, NodeKind
from omnibase_infra.contract_validation.problems import Origin
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ContractError
from omnibase_infra.json_types import JsonObject
from omnibase_infra.models.model_circuit_breaker_config import (
    ModelCircuitBreakerConfig,
    ModelCircuitBreakerEnvironmentConfig,
)


def _section[T](
    node: LoadedNodeContract, name: str, value: ModelPerEnvironment[T] | None
) -> ModelPerEnvironment[T]:
    if value is None:
        raise ContractError(
            [(node.path, f"environment_config.{name}", f"node {node.name} has no {name} settings")]
        )
    return value


class LoadedNodeContract(BaseModel):
    """One validated node contract, with its extra operations merged in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    origin: Origin
    document: ModelNodeContractDocument
    operations: tuple[ModelOperationDefinition, ...] = ()
    operation_files: dict[str, str] = Field(default_factory=dict, description="operation name -> file")

    @property
    def name(self) -> str:
        return self.document.name

    @property
    def version(self) -> ModelSemVerValue:
        return self.document.contract_version

    @property
    def kind(self) -> NodeKind:
        """EFFECT, COMPUTE, REDUCER or ORCHESTRATOR."""
        return KIND_OF_NODE_TYPE[self.document.node_type]

    @property
    def description(self) -> str:
        return self.document.description

    @property
    def topics(self) -> ModelTopicsSection:
        return self.document.topics

    @property
    def dependencies(self) -> tuple[ModelProtocolDependency, ...]:
        return self.document.dependencies

    @property
    def capabilities(self) -> tuple[ModelCapability, ...]:
        return self.document.capabilities

    @property
    def environment_config(self) -> ModelNodeEnvironmentConfig:
        return self.document.environment_config

    @property
    def circuit_breakers(self) -> ModelCircuitBreakerEnvironmentConfig:
        """The breaker settings of every environment; ``ContractError`` if this node has none."""
        breakers = self.document.environment_config.circuit_breaker
        if breakers is None:
            raise ContractError(
                [
                    (
                        self.path,
                        "environment_config.circuit_breaker",
                        f"node {self.name} has no circuit_breaker settings",
                    )
                ]
            )
        return breakers

    def circuit_breaker(self, environment: EnumEnvironment | str) -> ModelCircuitBreakerConfig:
        """The breaker settings of this node for ``environment``."""
        return self.circuit_breakers.get_config_for_environment(environment)

    def postgres_pool(self, environment: EnumEnvironment | str) -> ModelPostgresPoolSettings:
        """Pool sizes and timeouts; ``ContractError`` if this node has none."""
        cfg = self.environment_config
        return _section(self, "postgres_pool", cfg.postgres_pool).for_environment(environment)

    def kafka_producer(self, environment: EnumEnvironment | str) -> ModelKafkaProducerSettings:
        cfg = self.environment_config
        return _section(self, "kafka_producer", cfg.kafka_producer).for_environment(environment)

    def kafka_consumer(self, environment: EnumEnvironment | str) -> ModelKafkaConsumerSettings:
        cfg = self.environment_config
        return _section(self, "kafka_consumer", cfg.kafka_consumer).for_environment(environment)

    def batching(self, environment: EnumEnvironment | str) -> ModelBatchingSettings:
        cfg = self.environment_config
        return _section(self, "batching", cfg.batching).for_environment(environment)

    def workflow_runtime(self, environment: EnumEnvironment | str) -> ModelWorkflowRuntimeSettings:
        cfg = self.environment_config
        return _section(self, "workflow_runtime", cfg.workflow_runtime).for_environment(environment)

    def find_operation(self, name: str) -> ModelOperationDefinition | None:
        """The named SQL operation, or None (an unknown name on the bus is a poison record)."""
        return next((op for op in self.operations if op.name == name), None)

    def operation(self, name: str) -> ModelOperationDefinition:
        """The named SQL operation; ``KeyError`` if there is none."""
        found = self.find_operation(name)
        if found is None:
            raise KeyError(f"node {self.name} has no operation {name!r}")
        return found

    @property
    def exposed_operations(self) -> tuple[ModelOperationDefinition, ...]:
        """Operations a command on the bus may name."""
        return tuple(op for op in self.operations if op.exposed)

    @property
    def step_operations(self) -> frozenset[str]:
        """Names a workflow step may use with this node: its capabilities that declare ``input``."""
        return frozenset(c.name for c in self.capabilities if c.input is not None)

    def core_document(self) -> JsonObject:
        """The omnibase-core part, as handed to core's ``ModelContract*`` (for ``contract_data``)."""
        dumped: JsonObject = self.document.model_dump(mode="json", exclude_none=True, by_alias=True)
        return {key: dumped[key] for key in CORE_KEYS if key in dumped}


class LoadedComposition(BaseModel):
    """One validated composition contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    origin: Origin
    document: ModelCompositionDocument

    @property
    def name(self) -> str:
        return self.document.name

    @property
    def workflows(self) -> tuple[ModelWorkflow, ...]:
        return self.document.workflows


class ContractSet(BaseModel):
    """Every validated contract the service runs with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: tuple[LoadedNodeContract, ...]
    compositions: tuple[LoadedComposition, ...]

    def find_node(self, name: str, version: str | None = None) -> LoadedNodeContract | None:
        """The node contract by name (and ``"1.0.0"``-style version; highest when omitted)."""
        matches = [n for n in self.nodes if n.name == name and (version is None or str(n.version) == version)]
        if not matches:
            return None
        return max(matches, key=lambda n: (n.version.major, n.version.minor, n.version.patch))

    def node(self, name: str, version: str | None = None) -> LoadedNodeContract:
        """Like ``find_node`` but ``KeyError`` when absent."""
        found = self.find_node(name, version)
        if found is None:
            raise KeyError(f"no node contract {name!r}" + (f" version {version}" if version else ""))
        return found

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.name for n in self.nodes))

    @property
    def workflows(self) -> tuple[ModelWorkflow, ...]:
        return tuple(w for c in self.compositions for w in c.workflows)

    def workflow(self, name: str) -> ModelWorkflow:
        """The workflow by name; ``KeyError`` when absent."""
        found = next((w for w in self.workflows if w.name == name), None)
        if found is None:
            raise KeyError(f"no workflow {name!r}")
        return found

    def workflows_with_trigger(self, trigger: WorkflowTrigger) -> tuple[ModelWorkflow, ...]:
        return tuple(w for w in self.workflows if w.trigger == trigger)

    def capability(self, node: str, operation: str) -> ModelCapability | None:
        """The capability ``operation`` of node ``node`` (highest version), or None."""
        contract = self.find_node(node)
        if contract is None:
            return None
        return next((c for c in contract.document.capabilities if c.name == operation), None)

    def topics_for_use(self, use: TopicUse) -> tuple[str, ...]:
        """Topics listed by steps whose operation publishes for ``use``, in declaration order."""
        topics = (
            topic
            for workflow in self.workflows
            for step in workflow.steps
            if (capability := self.capability(step.node, step.operation)) is not None
            and capability.topic_use == use
            for topic in step.publishes
        )
        return tuple(dict.fromkeys(topics))

    def _topic_sections(self) -> list[ModelTopicsSection]:
        return [n.topics for n in self.nodes] + [c.document.topics for c in self.compositions]

    @property
    def consumed_topics(self) -> frozenset[str]:
        return frozenset(t for s in self._topic_sections() for t in s.consumes)

    @property
    def published_topics(self) -> frozenset[str]:
        return frozenset(t for s in self._topic_sections() for t in s.publishes)

    @property
    def declared_topics(self) -> frozenset[str]:
        """Every topic some contract declares; dead-letter topics are derived, not listed."""
        return self.consumed_topics | self.published_topics

    @staticmethod
    def dead_letter_topic(topic: str) -> str:
        """The DLQ of ``topic``: ``topic + ".dlq"``."""
        return topic + DEAD_LETTER_SUFFIX

    def require_declared(self, topics: tuple[str, ...], source: str) -> None:
        """Raise ``ContractError`` naming ``source`` if a topic is not declared by any contract."""
        missing = [t for t in topics if t not in self.declared_topics]
        if missing:
            raise ContractError(
                [(source, "topics", f"topic {t} is not declared in any contract") for t in missing]
            )


__all__ = ["ContractSet", "LoadedComposition", "LoadedNodeContract", "Origin"]
