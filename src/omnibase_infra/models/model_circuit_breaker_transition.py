"""A circuit-breaker state change, as delivered to metrics, audit and the reducer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.models.model_health import CircuitState

TransitionReason = Literal[
    "failure_threshold_reached",
    "recovery_timeout_elapsed",
    "success_threshold_reached",
    "half_open_probe_failed",
    "forced_open",
    "manual_reset",
]


class ModelCircuitBreakerTransition(BaseModel):
    """One transition of one breaker.

    ``at`` is when the transition took effect: for the timer-driven
    open → half-open move it is the moment the recovery timeout elapsed, even
    if the breaker only noticed later.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="breaker name")
    from_state: CircuitState
    to_state: CircuitState
    reason: TransitionReason
    at: datetime
    environment: str | None = None
    consecutive_failures: int = Field(default=0, ge=0, description="failures that led to an opening")


__all__ = ["ModelCircuitBreakerTransition", "TransitionReason"]
