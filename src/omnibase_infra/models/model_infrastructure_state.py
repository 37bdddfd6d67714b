"""Infrastructure state folded by the reducer, and the samples and intents around it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.models.model_health import HealthStatus


class ModelComponentSample(BaseModel):
    """One observation of one component (PostgreSQL, Kafka or a breaker)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    component: str = Field(min_length=1)
    status: HealthStatus
    reason: str | None = None
    observed_at: datetime


class ModelHealthSummary(BaseModel):
    """message_aggregator's summary of one sampling round: the worst status per component."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: tuple[ModelComponentSample, ...]
    observed_at: datetime


class ModelComponentState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    component: str
    status: HealthStatus
    reason: str | None = None
    since: datetime


class ModelInfrastructureState(BaseModel):
    """The state of every known component; ``overall`` is the worst of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    components: dict[str, ModelComponentState] = Field(default_factory=dict)
    version: int = Field(default=0, ge=0)

    @property
    def overall(self) -> HealthStatus:
        order: dict[HealthStatus, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}
        worst: HealthStatus = "healthy"
        for state in self.components.values():
            if order[state.status] > order[worst]:
                worst = state.status
        return worst


class ModelStateChangedIntent(BaseModel):
    """Reducer output: a component changed; publish it and store it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["state_changed"] = "state_changed"
    component: str
    previous_status: HealthStatus | None
    status: HealthStatus
    reason: str | None = None
    changed_at: datetime


class ModelStateChangedPayload(BaseModel):
    """Payload of ``onex.evt.infrastructure.state-changed.v1``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    component: str
    previous_status: HealthStatus | None
    status: HealthStatus
    reason: str | None = None
    overall_status: HealthStatus
    changed_at: datetime
    environment: str


__all__ = [
    "ModelComponentSample",
    "ModelComponentState",
    "ModelHealthSummary",
    "ModelInfrastructureState",
    "ModelStateChangedIntent",
    "ModelStateChangedPayload",
]
