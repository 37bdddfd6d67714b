"""Named database operations: the only SQL the service runs on request (docs/architecture.md).

An operation is a name, one parameterised statement (``$1..$n``), the JSON Schema of
each parameter in ``$n`` order, and whether it only reads. A command on the bus names
an operation and passes its parameters as a JSON object; it never carries SQL.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omnibase_infra.contract_validation.model_contract_sections import Description, Identifier
from omnibase_infra.json_types import JsonObject, JsonValue

_FROZEN = ConfigDict(frozen=True, extra="forbid")

OperationReturns = Literal["rows", "row", "none"]
"""``rows``: every row; ``row``: the first row or null; ``none``: only the affected-row count."""

SqlText = Annotated[str, StringConstraints(min_length=1, max_length=20000)]


class ModelOperationParameter(BaseModel):
    """One parameter; its position in the list is its ``$n`` number (first is ``$1``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: Identifier
    json_schema: JsonObject = Field(alias="schema", description="JSON Schema (2020-12) of the value")
    required: bool = Field(default=True, description="absent optional parameters are bound as NULL")
    relay_topic: bool = Field(
        default=False,
        description=(
            "the value is the topic of an outbox row: a command naming a topic that the "
            "topic ACL does not allow for the relay gets a topic_not_allowed reply"
        ),
    )
    description: Description | None = None


class ModelOperationDefinition(BaseModel):
    """A named, parameterised SQL statement declared in the postgres_adapter contract."""

    model_config = _FROZEN

    name: Identifier
    description: Description
    sql: SqlText
    parameters: tuple[ModelOperationParameter, ...] = ()
    read_only: bool = Field(description="run in a READ ONLY transaction; no INSERT/UPDATE/DELETE")
    returns: OperationReturns = "rows"
    exposed: bool = Field(
        default=False, description="may be named by a command on the bus (otherwise workflows only)"
    )

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names in ``$n`` order: ``parameter_names[0]`` binds ``$1``."""
        return tuple(p.name for p in self.parameters)

    @property
    def relay_topic_parameters(self) -> tuple[str, ...]:
        """Parameters whose value is an outbox row's topic (checked against the topic ACL)."""
        return tuple(p.name for p in self.parameters if p.relay_topic)

    @property
    def parameters_schema(self) -> JsonObject:
        """The JSON Schema of a command's ``parameters`` object for this operation."""
        properties: dict[str, JsonValue] = {p.name: p.json_schema for p in self.parameters}
        required: list[JsonValue] = [p.name for p in self.parameters if p.required]
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": properties,
            "required": required,
        }


class ModelOperationsDocument(BaseModel):
    """An extra operations file: its operations join those of ``target_node``."""

    model_config = _FROZEN

    kind: Literal["operations"]
    target_node: Identifier
    description: Description | None = None
    operations: tuple[ModelOperationDefinition, ...] = Field(min_length=1)


__all__ = [
    "ModelOperationDefinition",
    "ModelOperationParameter",
    "ModelOperationsDocument",
    "OperationReturns",
]
