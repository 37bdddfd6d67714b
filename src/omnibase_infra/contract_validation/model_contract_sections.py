"""The sections of a node contract, as frozen pydantic models.

These models are the single source of the JSON Schemas in ``schemas/`` (see
``schema_builder``): a bound written here is a bound the schema enforces.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from omnibase_infra.contract_validation.model_environment_settings import (
    ModelBatchingSettings,
    ModelKafkaConsumerSettings,
    ModelKafkaProducerSettings,
    ModelPerEnvironment,
    ModelPostgresPoolSettings,
    ModelWorkflowRuntimeSettings,
)
from omnibase_infra.models.model_circuit_breaker_config import ModelCircuitBreakerEnvironmentConfig

_FROZEN = ConfigDict(frozen=True, extra="forbid")

TOPIC_PATTERN = (
    r"^onex\.(evt|cmd|intent|snapshot)\.[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+(-[a-z0-9]+)*\.v[1-9][0-9]*$"
)
"""``onex.<kind>.<domain>.<name>.v<N>``; a dead-letter topic is derived, never declared."""

DEAD_LETTER_SUFFIX = ".dlq"
"""The dead-letter topic of T is ``T + DEAD_LETTER_SUFFIX`` (docs/architecture.md, Wire format)."""

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
TopicName = Annotated[str, StringConstraints(pattern=TOPIC_PATTERN, max_length=249)]
ClassPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$", max_length=300)
]
ProtocolName = Annotated[str, StringConstraints(pattern=r"^Protocol[A-Z][A-Za-z0-9]*$", max_length=100)]
ModulePath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", max_length=200)
]
Description = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
NodeType = Literal["EFFECT_GENERIC", "COMPUTE_GENERIC", "REDUCER_GENERIC", "ORCHESTRATOR_GENERIC"]


class ModelSemVerValue(BaseModel):
    """A contract version ``{major, minor, patch}``; the node folder is ``v<major>_<minor>_<patch>``."""

    model_config = _FROZEN

    major: int = Field(ge=0, le=999)
    minor: int = Field(ge=0, le=999)
    patch: int = Field(ge=0, le=999)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def folder_name(self) -> str:
        """The version folder this contract must live in, e.g. ``v1_0_0``."""
        return f"v{self.major}_{self.minor}_{self.patch}"


class ModelPerformanceSection(BaseModel):
    """omnibase-core ``performance``; compute and orchestrator contracts must set it."""

    model_config = _FROZEN

    single_operation_max_ms: int = Field(ge=1, le=3_600_000)


class ModelIoOperationSection(BaseModel):
    """omnibase-core ``io_operations`` entry of an effect contract (its kind of I/O)."""

    model_config = _FROZEN

    operation_type: Identifier
    atomic: bool = True
    timeout_seconds: int = Field(default=30, ge=1, le=3600)


class ModelAlgorithmFactorSection(BaseModel):
    model_config = _FROZEN

    weight: float = Field(ge=0.0, le=1.0)
    calculation_method: Identifier


class ModelAlgorithmSection(BaseModel):
    """omnibase-core ``algorithm`` of a compute contract; factor weights sum to 1 (as core requires)."""

    model_config = _FROZEN

    algorithm_type: Identifier
    factors: dict[str, ModelAlgorithmFactorSection] = Field(min_length=1)

    @field_validator("factors")
    @classmethod
    def _weights_sum_to_one(
        cls, factors: dict[str, ModelAlgorithmFactorSection]
    ) -> dict[str, ModelAlgorithmFactorSection]:
        total = sum(f.weight for f in factors.values())
        if not 0.99 <= total <= 1.01:
            raise ValueError(f"factor weights must sum to 1.0, got {total:g}")
        return factors


class ModelProtocolDependency(BaseModel):
    """A collaborator the node resolves from the container by protocol type."""

    model_config = _FROZEN

    name: ProtocolName
    module: ModulePath
    dependency_type: Literal["protocol"] = "protocol"
    required: bool = True
    description: Description | None = None

    @property
    def import_path(self) -> str:
        """``module:name``, for ``importlib`` at startup."""
        return f"{self.module}:{self.name}"


CapabilityRole = Literal["consume", "commit", "dead_letter"]
"""What a capability is to a records workflow: its first step (``consume``), the step that
commits offsets (``commit``, last), the step that sends poison to ``T.dlq`` (``dead_letter``)."""

TopicUse = Literal["reply", "relay", "state", "forward"]
"""Why a publishing capability sends to the topics its steps list; the topic ACL allows each
topic for the uses of the steps that list it (DLQ topics are derived: ``dead_letter``)."""

SAME_AS_INPUT = "same"


class ModelCapability(BaseModel):
    """What the node's code does: a step operation (``@operation``) or a public method.

    With ``input``, a step operation, which workflow steps name: ``input`` and ``output``
    are the classes of the payload it takes and returns (``module.Class``; ``output: same``
    means it returns the type it was given), those of the class's ``@operation``. Without
    ``input``, the name of a public method of the node class that is no ``@operation``
    (e.g. a typed request API); no step may name it. ``class_checks`` verifies both.
    """

    model_config = _FROZEN

    name: Identifier
    description: Description
    input: ClassPath | None = Field(
        default=None,
        description=(
            "payload class taken (module.Class); none: not a workflow step, the name is a public "
            "method of the node class"
        ),
    )
    output: ClassPath | Literal["same"] | None = Field(
        default=None, description="payload class returned (module.Class), or same: the type it was given"
    )
    role: CapabilityRole | None = None
    topic_use: TopicUse | None = Field(
        default=None, description="a publishing step's topics are allowed for this use (the topic ACL)"
    )


class ModelTopicsSection(BaseModel):
    """Topics consumed and published; every topic the service touches is declared somewhere."""

    model_config = _FROZEN

    consumes: tuple[TopicName, ...] = ()
    publishes: tuple[TopicName, ...] = ()
    dead_letter_suffix: Literal[".dlq"] = Field(
        default=".dlq", description="the DLQ of topic T is T + this suffix (fixed)"
    )


class ModelNodeEnvironmentConfig(BaseModel):
    """``environment_config``: the node's settings per environment (its breaker, pools...).

    Which sections a node needs is fixed per shipped node (see ``node_rules``): exactly
    the ones the runtime reads for it. The schema requires those and rejects the others.
    """

    model_config = _FROZEN

    circuit_breaker: ModelCircuitBreakerEnvironmentConfig | None = None
    postgres_pool: ModelPerEnvironment[ModelPostgresPoolSettings] | None = None
    kafka_producer: ModelPerEnvironment[ModelKafkaProducerSettings] | None = None
    kafka_consumer: ModelPerEnvironment[ModelKafkaConsumerSettings] | None = None
    batching: ModelPerEnvironment[ModelBatchingSettings] | None = None
    workflow_runtime: ModelPerEnvironment[ModelWorkflowRuntimeSettings] | None = None


__all__ = [
    "DEAD_LETTER_SUFFIX",
    "TOPIC_PATTERN",
    "ClassPath",
    "Description",
    "Identifier",
    "ModelAlgorithmFactorSection",
    "ModelAlgorithmSection",
    "ModelCapability",
    "ModelIoOperationSection",
    "ModelNodeEnvironmentConfig",
    "ModelPerformanceSection",
    "ModelProtocolDependency",
    "ModelSemVerValue",
    "ModelTopicsSection",
    "ModulePath",
    "NodeType",
    "ProtocolName",
    "TopicName",
]
