"""Where the service runs: the detected environment and, when loaded, the settings.

Registered in the container under its own type; nodes read ``environment`` to pick
their per-environment contract settings.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.settings import ModelInfraSettings


class ModelDeploymentContext(BaseModel):
    """The deployment environment, plus the service settings when they were loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: EnumEnvironment
    settings: ModelInfraSettings | None = None


__all__ = ["ModelDeploymentContext"]
