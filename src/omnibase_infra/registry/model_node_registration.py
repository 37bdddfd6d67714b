"""One registered node: who it is, what kind, where its class and contract are."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.contract_validation.node_rules import NodeKind


class ModelNodeRegistration(BaseModel):
    """A node known to the registry. ``entry_point`` is ``module:Class``, imported only on demand."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    kind: NodeKind
    entry_point: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    contract_path: str
    distribution: str | None = None
    description: str = ""

    @property
    def key(self) -> tuple[str, tuple[int, ...]]:
        """(name, numeric version): the registry's identity and ordering."""
        return self.name, tuple(int(part) for part in self.version.split("."))


__all__ = ["ModelNodeRegistration"]
