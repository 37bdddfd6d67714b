"""The whole ``contract.yaml`` of a node: omnibase-core's part plus ours.

Core part (checked again by omnibase-core's ``ModelContract*``): ``name``,
``contract_version``, ``node_type``, ``description``, ``input_model``,
``output_model``, ``performance``, ``io_operations``, ``algorithm``, ``dependencies``.
Our part: ``environment_config``, ``topics``, ``capabilities``, ``operations``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.contract_validation.model_contract_sections import (
    ClassPath,
    Description,
    Identifier,
    ModelAlgorithmSection,
    ModelCapability,
    ModelIoOperationSection,
    ModelNodeEnvironmentConfig,
    ModelPerformanceSection,
    ModelProtocolDependency,
    ModelSemVerValue,
    ModelTopicsSection,
    NodeType,
)
from omnibase_infra.contract_validation.model_operations import ModelOperationDefinition


class ModelNodeContractDocument(BaseModel):
    """A node contract as written in ``nodes/<name>/v<M>_<m>_<p>/contract.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Identifier
    contract_version: ModelSemVerValue
    node_type: NodeType
    description: Description
    input_model: ClassPath
    output_model: ClassPath
    performance: ModelPerformanceSection | None = None
    io_operations: tuple[ModelIoOperationSection, ...] | None = Field(default=None, min_length=1)
    algorithm: ModelAlgorithmSection | None = None
    dependencies: tuple[ModelProtocolDependency, ...] = ()
    environment_config: ModelNodeEnvironmentConfig = ModelNodeEnvironmentConfig()
    topics: ModelTopicsSection = ModelTopicsSection()
    capabilities: tuple[ModelCapability, ...] = Field(min_length=1)
    operations: tuple[ModelOperationDefinition, ...] = ()


__all__ = ["ModelNodeContractDocument"]
