"""``ProtocolDeploymentContext``: the deployment environment a node picks its settings for.

``models.model_deployment_context.ModelDeploymentContext`` satisfies it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from omnibase_infra.environment import EnumEnvironment


class ProtocolDeploymentContext(Protocol):
    """The environment detected at startup (production, staging or development)."""

    @property
    def environment(self) -> EnumEnvironment:
        """Which per-environment contract values apply."""
        ...


__all__ = ["ProtocolDeploymentContext"]
