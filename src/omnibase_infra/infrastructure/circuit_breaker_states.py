"""The states of a circuit breaker, one frozen object each, and the table of legal moves.

Every state answers the same questions (resilience4j's ``CircuitBreakerState``):

- ``due(now)``: a timer-driven move that is due (only ``Open`` has one);
- ``acquire(config)``: the state after admitting one call, or ``None`` to refuse;
- ``on_success`` / ``on_failure``: the state after an admitted call ended;
- ``on_release``: the state after an admitted call ended without a verdict
  (an ignored error or a cancellation): a half-open probe slot is freed.

A method returns a ``Step``: the next state and, when the *kind* of state
changes, the reason. The breaker applies a step with a single assignment after
``check_transition`` has accepted it against ``LEGAL_TRANSITIONS``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from omnibase_infra.models.model_circuit_breaker_config import ModelCircuitBreakerConfig
from omnibase_infra.models.model_circuit_breaker_transition import TransitionReason
from omnibase_infra.models.model_health import CircuitState


class IllegalTransitionError(RuntimeError):
    """A state change outside ``LEGAL_TRANSITIONS``: a bug in the breaker, never a runtime condition."""


LEGAL_TRANSITIONS: Mapping[tuple[CircuitState, CircuitState], frozenset[TransitionReason]] = {
    ("closed", "open"): frozenset({"failure_threshold_reached"}),
    ("open", "half_open"): frozenset({"recovery_timeout_elapsed"}),
    ("half_open", "closed"): frozenset({"success_threshold_reached", "manual_reset"}),
    ("half_open", "open"): frozenset({"half_open_probe_failed"}),
    ("open", "closed"): frozenset({"manual_reset"}),
    ("forced_open", "closed"): frozenset({"manual_reset"}),
    ("closed", "forced_open"): frozenset({"forced_open"}),
    ("open", "forced_open"): frozenset({"forced_open"}),
    ("half_open", "forced_open"): frozenset({"forced_open"}),
}


def check_transition(from_state: CircuitState, to_state: CircuitState, reason: TransitionReason) -> None:
    """Raise ``IllegalTransitionError`` unless ``from_state → to_state`` is legal for ``reason``."""
    if reason not in LEGAL_TRANSITIONS.get((from_state, to_state), frozenset()):
        raise IllegalTransitionError(f"illegal breaker transition {from_state} -> {to_state} ({reason})")


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of an event: the next state, and the reason if its kind changed."""

    state: BreakerState
    reason: TransitionReason | None = None


class BreakerState(ABC):
    """The interface every state shares."""

    name: ClassVar[CircuitState]

    def due(self, now: float) -> tuple[Step, float] | None:
        """A timer-driven step that is due at ``now``, with the instant it became due."""
        return None

    @abstractmethod
    def acquire(self, config: ModelCircuitBreakerConfig) -> BreakerState | None:
        """The state after admitting one call, or ``None`` if the call is refused."""

    def on_success(self, now: float, config: ModelCircuitBreakerConfig) -> Step:
        return Step(self)

    def on_failure(self, now: float, config: ModelCircuitBreakerConfig) -> Step:
        return Step(self)

    def on_release(self) -> BreakerState:
        return self

    def retry_after(self, now: float) -> float:
        """Seconds until a refused call may be admitted (``inf`` if only a reset helps)."""
        return 0.0

    @property
    def consecutive_failures(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class Closed(BreakerState):
    """Calls flow; ``failures`` consecutive outage failures have been seen."""

    name: ClassVar[CircuitState] = "closed"
    failures: int = 0

    def acquire(self, config: ModelCircuitBreakerConfig) -> BreakerState | None:
        return self

    def on_success(self, now: float, config: ModelCircuitBreakerConfig) -> Step:
        return Step(self if self.failures == 0 else Closed(0))

    def on_failure(self, now: float, config: ModelCircuitBreakerConfig) -> Step:
        failures = self.failures + 1
        if failures >= config.failure_threshold:
            return Step(
                Open(until=now + config.recovery_timeout, failures=failures), "failure_threshold_reached"
            )
        return Step(Closed(failures))

    @property
    def consecutive_failures(self) -> int:
        return self.failures


@dataclass(frozen=True, slots=True)
class Open(BreakerState):
    """Calls are refused until the monotonic instant ``until``, then the breaker is half-open."""

    name: ClassVar[CircuitState] = "open"
    until: float
    failures: int = 0

    def due(self, now: float) -> tuple[Step, float] | None:
        if now >= self.until:
            return Step(HalfOpen(), "recovery_timeout_elapsed"), self.until
        return None

    def acquire(self, config: ModelCircuitBreakerConfig) -> BreakerState | None:
        return None

    def retry_after(self, now: float) -> float:
        return max(0.0, self.until - now)

    @property
    def consecutive_failures(self) -> int:
        return self.failures


@dataclass(frozen=True, slots=True)
class HalfOpen(BreakerState):
    """At most ``half_open_max_calls`` probes at a time; ``successes`` probes have succeeded."""

    name: ClassVar[CircuitState] = "half_open"
    probes_in_flight: int = 0
    successes: int = 0

    def acquire(self, config: ModelCircuitBreakerConfig) -> BreakerState | None:
        if self.probes_in_flight >= config.half_open_max_calls:
            return None
        return HalfOpen(self.probes_in_flight + 1, self.successes)

    def on_success(self, now: float, config: ModelCircuitBreakerConfig) -> Step:
        successes = self.successes + 1
        if successes >= config.success_threshold:
            return Step(Closed(0), "success_threshold_reached")
        return Step(HalfOpen(max(0, self.probes_in_flight - 1), successes))

    def on_failure(self, now: float, config: ModelCircuitBreakerConfig) -> Step:
        return Step(Open(until=now + config.recovery_timeout, failures=1), "half_open_probe_failed")

    def on_release(self) -> BreakerState:
        return HalfOpen(max(0, self.probes_in_flight - 1), self.successes)


@dataclass(frozen=True, slots=True)
class ForcedOpen(BreakerState):
    """Every call is refused until ``reset_circuit()``; no timer applies."""

    name: ClassVar[CircuitState] = "forced_open"

    def acquire(self, config: ModelCircuitBreakerConfig) -> BreakerState | None:
        return None

    def retry_after(self, now: float) -> float:
        return math.inf


__all__ = [
    "LEGAL_TRANSITIONS",
    "BreakerState",
    "Closed",
    "ForcedOpen",
    "HalfOpen",
    "IllegalTransitionError",
    "Open",
    "Step",
    "check_transition",
]
