"""An environment-aware circuit breaker for calls to the event bus and the database.

States (objects in ``circuit_breaker_states``): closed, open, half_open and
forced_open. The rules, all driven by a ``ModelCircuitBreakerConfig``:

- closed: every call is admitted. ``failure_threshold`` *consecutive* outage
  failures open the circuit; a success resets the count; an ignored error
  (poison or other, see ``error_classification``) neither counts nor resets.
- open: every call is refused with ``CircuitOpenError``. When
  ``recovery_timeout`` seconds have passed on the injected clock the breaker
  is half-open. The ``state`` property is computed from the clock when read,
  so it is true without traffic.
- half_open: at most ``half_open_max_calls`` probes run at once (others are
  refused); ``success_threshold`` successful probes close the circuit; any
  outage failure reopens it for another ``recovery_timeout``.
- forced_open: refuses everything until ``reset_circuit()``.

Every protected call is bounded by ``timeout_seconds`` (``asyncio.timeout``),
so a hanging probe ends as a counted timeout and half-open cannot get stuck.

Outcomes are applied to the state that admitted the call: a call admitted
before a transition and finishing after it is counted in the metrics but does
not move the new state (each transition starts a new epoch).

Every transition is delivered as a ``ModelCircuitBreakerTransition`` to the
registered listeners (plain callables, called synchronously after the state
changed; a listener that raises is logged and skipped).

The breaker is meant for one event loop; its methods do not await between
reading and writing the state, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.environment import EnumEnvironment, detect_environment, parse_environment
from omnibase_infra.errors import CircuitOpenError, LifecycleError
from omnibase_infra.infrastructure.circuit_breaker_states import (
    BreakerState,
    Closed,
    ForcedOpen,
    Step,
    check_transition,
)
from omnibase_infra.infrastructure.error_classification import ErrorClassification, classify_error
from omnibase_infra.models.model_circuit_breaker_config import (
    ModelCircuitBreakerConfig,
    ModelCircuitBreakerEnvironmentConfig,
)
from omnibase_infra.models.model_circuit_breaker_transition import (
    ModelCircuitBreakerTransition,
)
from omnibase_infra.models.model_health import CircuitState, ModelCircuitBreakerMetrics

if TYPE_CHECKING:
    from omnibase_infra.infrastructure.event_queue import RecoveryReport

T = TypeVar("T")
TransitionListener = Callable[[ModelCircuitBreakerTransition], None]
QueueGauge = Callable[[], tuple[int, int]]
QueueRecovery = Callable[[], Awaitable["RecoveryReport"]]
"""Returns ``(events_queued, events_spilled)`` of the event queue guarded by the breaker."""

_log = logging.getLogger(__name__)


class CircuitPermit:
    """One admitted call; only the first of ``on_success``, ``on_error`` and ``release`` counts."""

    __slots__ = ("_breaker", "_done", "_epoch")

    def __init__(self, breaker: EventBusCircuitBreaker, epoch: int) -> None:
        self._breaker = breaker
        self._epoch = epoch
        self._done = False

    def on_success(self) -> None:
        """Record a successful call."""
        if not self._done:
            self._done = True
            self._breaker._record_success(self._epoch)

    def on_error(self, exc: BaseException) -> ErrorClassification:
        """Record a failed call: an outage counts, anything else is ignored. Returns the verdict."""
        verdict = self._breaker._classify(exc)
        if not self._done:
            self._done = True
            if verdict.counts_against_breaker:
                self._breaker._record_failure(self._epoch)
            else:
                self._breaker._record_ignored(self._epoch)
        return verdict

    def release(self) -> None:
        """Give the permit back without a verdict (the call was cancelled)."""
        if not self._done:
            self._done = True
            self._breaker._record_release(self._epoch)


class EventBusCircuitBreaker:
    """Closed / open / half-open / forced-open breaker with an injected clock (see module docstring)."""

    def __init__(
        self,
        name: str,
        config: ModelCircuitBreakerConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Iterable[TransitionListener] = (),
        environment: EnumEnvironment | str | None = None,
        classify: Callable[[BaseException], ErrorClassification] = classify_error,
    ) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        self._listeners: list[TransitionListener] = list(listeners)
        self._environment = None if environment is None else str(environment)
        self._classify = classify
        self._state: BreakerState = Closed()
        self._epoch = 0
        self._queue_gauge: QueueGauge | None = None
        self._queue_recovery: QueueRecovery | None = None
        self._successful = 0
        self._failed = 0
        self._ignored = 0
        self._not_permitted = 0
        self._transitions = 0

    @classmethod
    def from_environment(
        cls,
        environment_config: ModelCircuitBreakerEnvironmentConfig | None = None,
        environment: EnumEnvironment | str | None = None,
        *,
        name: str = "event_bus",
        clock: Clock = SYSTEM_CLOCK,
        listeners: Iterable[TransitionListener] = (),
    ) -> EventBusCircuitBreaker:
        """A breaker with the values of ``environment`` (detected from the process if ``None``).

        ``environment_config`` defaults to the seed's values
        (``ModelCircuitBreakerEnvironmentConfig.create_default_config()``).
        Raises ``ConfigurationError`` for an unrecognised environment name.
        """
        env_config = environment_config or ModelCircuitBreakerEnvironmentConfig.create_default_config()
        env = detect_environment() if environment is None else environment
        config = env_config.get_config_for_environment(env)
        resolved = env if isinstance(env, EnumEnvironment) else parse_environment(env)
        return cls(name, config, clock=clock, listeners=listeners, environment=resolved)

    @classmethod
    def from_contract(
        cls,
        environment_config: ModelCircuitBreakerEnvironmentConfig,
        *,
        name: str,
        environment: EnumEnvironment | str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Iterable[TransitionListener] = (),
    ) -> EventBusCircuitBreaker:
        """A breaker from a node contract's ``environment_config.circuit_breaker`` block."""
        return cls.from_environment(
            environment_config, environment, name=name, clock=clock, listeners=listeners
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> ModelCircuitBreakerConfig:
        return self._config

    @property
    def environment(self) -> str | None:
        return self._environment

    @property
    def state(self) -> CircuitState:
        """The current state, with any due open → half-open move applied first."""
        return self._current().name

    def seconds_until_half_open(self) -> float | None:
        """Seconds left in the open state, ``None`` when not (timer-)open."""
        state = self._current()
        if state.name != "open":
            return None
        return state.retry_after(self._clock.monotonic())

    def allows_calls(self) -> bool:
        """Whether a call would be admitted now (nothing is acquired)."""
        return self._current().acquire(self._config) is not None

    def add_listener(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: TransitionListener) -> None:
        self._listeners.remove(listener)

    def set_queue_gauge(self, gauge: QueueGauge | None) -> None:
        """Report the guarded event queue's sizes in ``metrics()`` (set by ``ResilientPublisher``)."""
        self._queue_gauge = gauge

    def set_queue_recovery(self, recovery: QueueRecovery | None) -> None:
        """What ``recover_queued_events()`` runs: the guarded queue's (set by ``ResilientPublisher``)."""
        self._queue_recovery = recovery

    async def recover_queued_events(self) -> RecoveryReport:
        """Publish the events queued behind this breaker now (the original guide's entry point).

        Delegates to the ``ResilientPublisher`` guarding its queue with this breaker (its
        ``recover_queued_events``: queue, then outbox, while the breaker admits calls).
        ``LifecycleError`` when no queue is guarded by this breaker (e.g. the postgres breaker).
        """
        if self._queue_recovery is None:
            raise LifecycleError(f"circuit breaker {self._name!r} guards no event queue")
        return await self._queue_recovery()

    def acquire_permission(self) -> CircuitPermit:
        """Admit one call or raise ``CircuitOpenError`` (counted as not permitted)."""
        state = self._current()
        admitted = state.acquire(self._config)
        if admitted is None:
            self._not_permitted += 1
            raise CircuitOpenError(self._name, state.retry_after(self._clock.monotonic()))
        self._state = admitted
        return CircuitPermit(self, self._epoch)

    async def call(self, fn: Callable[[], Awaitable[T]], *, timeout_seconds: float | None = None) -> T:
        """Run ``fn()`` under the breaker, bounded by ``timeout_seconds`` (default: the config's).

        Raises ``CircuitOpenError`` without calling ``fn`` when refused, the
        builtin ``TimeoutError`` when the deadline passes (counted as an outage),
        and otherwise whatever ``fn`` raised (counted or ignored per its
        classification). Cancellation of the caller releases the permit
        without a verdict.
        """
        permit = self.acquire_permission()
        deadline = self._config.timeout_seconds if timeout_seconds is None else timeout_seconds
        try:
            async with asyncio.timeout(deadline):
                result = await fn()
        except asyncio.CancelledError:
            permit.release()
            raise
        except Exception as exc:
            permit.on_error(exc)
            raise
        except BaseException:
            permit.release()
            raise
        permit.on_success()
        return result

    def force_open(self) -> None:
        """Refuse every call until ``reset_circuit()``. A no-op when already forced open."""
        state = self._current()
        if not isinstance(state, ForcedOpen):
            self._apply(Step(ForcedOpen(), "forced_open"))

    async def reset_circuit(self) -> None:
        """Close the circuit and clear the failure count, from any state.

        Awaitable, as the original guide calls it; it does no I/O (the transition listeners run
        synchronously before it returns).
        """
        state = self._current()
        if isinstance(state, Closed):
            self._state = Closed(0)
        else:
            self._apply(Step(Closed(0), "manual_reset"))

    def metrics(self) -> ModelCircuitBreakerMetrics:
        """A snapshot of state and counters (resilience4j's metric set)."""
        state = self._current()
        counted = self._successful + self._failed
        queued, spilled = self._queue_gauge() if self._queue_gauge is not None else (0, 0)
        return ModelCircuitBreakerMetrics(
            name=self._name,
            state=state.name,
            failure_count=state.failures if isinstance(state, Closed) else 0,
            successful_calls=self._successful,
            failed_calls=self._failed,
            ignored_calls=self._ignored,
            not_permitted_calls=self._not_permitted,
            success_rate=1.0 if counted == 0 else self._successful / counted,
            events_queued=queued,
            events_spilled=spilled,
            seconds_until_half_open=self.seconds_until_half_open(),
            transitions=self._transitions,
        )

    # -- internals: called by CircuitPermit --------------------------------------------------

    def _record_success(self, epoch: int) -> None:
        self._successful += 1
        state = self._current()
        if epoch == self._epoch:
            self._apply(state.on_success(self._clock.monotonic(), self._config))

    def _record_failure(self, epoch: int) -> None:
        self._failed += 1
        state = self._current()
        if epoch == self._epoch:
            self._apply(state.on_failure(self._clock.monotonic(), self._config))

    def _record_ignored(self, epoch: int) -> None:
        self._ignored += 1
        self._record_release(epoch)

    def _record_release(self, epoch: int) -> None:
        state = self._current()
        if epoch == self._epoch:
            self._state = state.on_release()

    def _current(self) -> BreakerState:
        due = self._state.due(self._clock.monotonic())
        if due is not None:
            step, became_due_at = due
            self._apply(step, effective_at=became_due_at)
        return self._state

    def _apply(self, step: Step, *, effective_at: float | None = None) -> None:
        previous = self._state
        if step.reason is None:
            self._state = step.state
            return
        check_transition(previous.name, step.state.name, step.reason)
        self._state = step.state
        self._epoch += 1
        self._transitions += 1
        at = self._clock.now()
        if effective_at is not None:
            at -= timedelta(seconds=max(0.0, self._clock.monotonic() - effective_at))
        event = ModelCircuitBreakerTransition(
            name=self._name,
            from_state=previous.name,
            to_state=step.state.name,
            reason=step.reason,
            at=at,
            environment=self._environment,
            consecutive_failures=step.state.consecutive_failures,
        )
        _log.info(
            "circuit breaker %s: %s -> %s (%s)", self._name, previous.name, step.state.name, step.reason
        )
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _log.exception("circuit breaker %s: transition listener failed", self._name)


def get_circuit_breaker(name: str = "kafka") -> EventBusCircuitBreaker:
    """The process's breaker ``name`` (the original guide's entry point; see ``get_connection_manager``).

    ``"kafka"`` (the default) guards the event bus and its queued events; ``"postgres"`` the
    database. ``ValueError`` naming the breakers for any other name.
    """
    from omnibase_infra.runtime.process_services import process_components

    components = process_components()
    breakers = {b.name: b for b in (components.postgres_breaker, components.kafka_breaker)}
    try:
        return breakers[name]
    except KeyError:
        raise ValueError(
            f"no circuit breaker {name!r}; the breakers are {', '.join(sorted(breakers))}"
        ) from None


__all__ = [
    "CircuitPermit",
    "EventBusCircuitBreaker",
    "QueueGauge",
    "TransitionListener",
    "get_circuit_breaker",
]
