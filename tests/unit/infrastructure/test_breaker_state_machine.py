"""Hypothesis drives the breaker with random calls, outcomes, timeouts and clock moves.

Each step is applied to the real ``EventBusCircuitBreaker`` and to ``ReferenceBreaker``,
a deliberately plain restatement of the rules; after every step the two must agree on
state, counters, the time left open and the transitions emitted. It runs for the three
environments' default values and for a configuration with several half-open probes.

Calls are started and finished separately (``begin``/``finish``) so that several can be in
flight, which exercises the half-open probe bound and outcomes that arrive after a
transition. Timeouts run through the real ``asyncio.timeout`` on an event loop whose time
is the fake clock, so no real time passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import CircuitOpenError, OutageError, PoisonRecordError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import CircuitPermit, EventBusCircuitBreaker
from omnibase_infra.models.model_circuit_breaker_config import (
    DEVELOPMENT_DEFAULT,
    PRODUCTION_DEFAULT,
    STAGING_DEFAULT,
    ModelCircuitBreakerConfig,
)
from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition

from .autojump import AutoJumpEventLoop

MAX_PENDING = 4


@dataclass
class ReferenceBreaker:
    """The rules, written as plainly as possible."""

    config: ModelCircuitBreakerConfig
    state: str = "closed"
    failures: int = 0
    open_until: float = 0.0
    probes: int = 0
    successes: int = 0
    epoch: int = 0
    successful: int = 0
    failed: int = 0
    ignored: int = 0
    not_permitted: int = 0
    transitions: list[tuple[str, str, str]] = field(default_factory=list)

    def _move(self, to: str, reason: str) -> None:
        self.transitions.append((self.state, to, reason))
        self.state = to
        self.epoch += 1
        self.failures = self.probes = self.successes = 0

    def _open(self, now: float, reason: str) -> None:
        self._move("open", reason)
        self.open_until = now + self.config.recovery_timeout

    def refresh(self, now: float) -> None:
        if self.state == "open" and now >= self.open_until:
            self._move("half_open", "recovery_timeout_elapsed")

    def acquire(self, now: float) -> int | None:
        self.refresh(now)
        if self.state == "closed" or (
            self.state == "half_open" and self.probes < self.config.half_open_max_calls
        ):
            if self.state == "half_open":
                self.probes += 1
            return self.epoch
        self.not_permitted += 1
        return None

    def success(self, epoch: int, now: float) -> None:
        self.successful += 1
        self.refresh(now)
        if epoch != self.epoch:
            return
        if self.state == "closed":
            self.failures = 0
        elif self.state == "half_open":
            self.probes -= 1
            self.successes += 1
            if self.successes >= self.config.success_threshold:
                self._move("closed", "success_threshold_reached")

    def failure(self, epoch: int, now: float) -> None:
        self.failed += 1
        self.refresh(now)
        if epoch != self.epoch:
            return
        if self.state == "closed":
            self.failures += 1
            if self.failures >= self.config.failure_threshold:
                self._open(now, "failure_threshold_reached")
        elif self.state == "half_open":
            self._open(now, "half_open_probe_failed")

    def release(self, epoch: int, now: float, *, ignored: bool) -> None:
        if ignored:
            self.ignored += 1
        self.refresh(now)
        if epoch == self.epoch and self.state == "half_open":
            self.probes -= 1

    def force_open(self, now: float) -> None:
        self.refresh(now)
        if self.state != "forced_open":
            self._move("forced_open", "forced_open")

    def reset(self, now: float) -> None:
        self.refresh(now)
        if self.state == "closed":
            self.failures = 0
        else:
            self._move("closed", "manual_reset")

    def seconds_until_half_open(self, now: float) -> float | None:
        self.refresh(now)
        return max(0.0, self.open_until - now) if self.state == "open" else None


async def _hang() -> None:
    await asyncio.Event().wait()


async def _succeed() -> str:
    return "ok"


async def _raise(exc: Exception) -> None:
    raise exc


class BreakerMachine(RuleBasedStateMachine):
    config: ModelCircuitBreakerConfig = DEVELOPMENT_DEFAULT

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=1000.0)
        self.loop = AutoJumpEventLoop(self.clock)
        self.events: list[ModelCircuitBreakerTransition] = []
        self.breaker = EventBusCircuitBreaker(
            "machine", self.config, clock=self.clock, listeners=[self.events.append]
        )
        self.model = ReferenceBreaker(self.config)
        self.pending: list[tuple[CircuitPermit, int]] = []

    def teardown(self) -> None:
        self.loop.close()

    def _now(self) -> float:
        return self.clock.monotonic()

    # -- calls started and finished separately ---------------------------------------------

    @precondition(lambda self: len(self.pending) < MAX_PENDING)
    @rule()
    def begin(self) -> None:
        expected = self.model.acquire(self._now())
        try:
            permit = self.breaker.acquire_permission()
        except CircuitOpenError:
            assert expected is None
            return
        assert expected is not None
        self.pending.append((permit, expected))

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), outcome=st.sampled_from(["success", "outage", "ignored", "cancelled"]))
    def finish(self, data: st.DataObject, outcome: str) -> None:
        index = data.draw(st.integers(0, len(self.pending) - 1))
        permit, epoch = self.pending.pop(index)
        now = self._now()
        if outcome == "success":
            permit.on_success()
            self.model.success(epoch, now)
        elif outcome == "outage":
            permit.on_error(ConnectionResetError())
            self.model.failure(epoch, now)
        elif outcome == "ignored":
            permit.on_error(PoisonRecordError("decode", "UnicodeDecodeError", "bad bytes"))
            self.model.release(epoch, now, ignored=True)
        else:
            permit.release()
            self.model.release(epoch, now, ignored=False)

    # -- whole calls through call(), with the real timeout ---------------------------------

    @rule(kind=st.sampled_from(["success", "outage", "ignored", "timeout"]))
    def call(self, kind: str) -> None:
        epoch = self.model.acquire(self._now())
        fn: Callable[[], Awaitable[object]]
        if kind == "success":
            fn = _succeed
        elif kind == "outage":
            fn = lambda: _raise(OutageError("gone"))  # noqa: E731
        elif kind == "ignored":
            fn = lambda: _raise(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"))  # noqa: E731
        else:
            fn = _hang
        started = self._now()
        try:
            self.loop.run_until_complete(self.breaker.call(fn))
        except CircuitOpenError:
            assert epoch is None
            return
        except TimeoutError:
            assert kind == "timeout"
            assert epoch is not None
            assert self._now() == started + self.config.timeout_seconds
            self.model.failure(epoch, self._now())
            return
        except (OutageError, UnicodeDecodeError):
            assert epoch is not None
            if kind == "outage":
                self.model.failure(epoch, self._now())
            else:
                self.model.release(epoch, self._now(), ignored=True)
            return
        assert epoch is not None and kind == "success"
        self.model.success(epoch, self._now())

    # -- time and manual control -----------------------------------------------------------

    @rule(seconds=st.integers(0, 2 * 300).map(lambda n: n / 2))
    def advance(self, seconds: float) -> None:
        self.clock.advance(min(seconds, 2.0 * self.config.recovery_timeout))

    @precondition(lambda self: self.model.state == "open")
    @rule(offset=st.sampled_from([-0.5, 0.0, 0.5]))
    def advance_to_recovery_boundary(self, offset: float) -> None:
        left = self.model.open_until - self._now()
        self.clock.advance(max(0.0, left + offset))

    @rule()
    def force_open(self) -> None:
        self.breaker.force_open()
        self.model.force_open(self._now())

    @rule()
    def reset(self) -> None:
        self.loop.run_until_complete(self.breaker.reset_circuit())
        self.model.reset(self._now())

    # -- the two must agree ----------------------------------------------------------------

    @invariant()
    def agree(self) -> None:
        now = self._now()
        assert self.breaker.seconds_until_half_open() == self.model.seconds_until_half_open(now)
        assert self.breaker.state == self.model.state
        metrics = self.breaker.metrics()
        assert metrics.failure_count == (self.model.failures if self.model.state == "closed" else 0)
        assert metrics.successful_calls == self.model.successful
        assert metrics.failed_calls == self.model.failed
        assert metrics.ignored_calls == self.model.ignored
        assert metrics.not_permitted_calls == self.model.not_permitted
        assert metrics.transitions == len(self.model.transitions)
        emitted = [(e.from_state, e.to_state, e.reason) for e in self.events]
        assert emitted == self.model.transitions
        assert self.breaker.allows_calls() == (
            self.model.state == "closed"
            or (self.model.state == "half_open" and self.model.probes < self.config.half_open_max_calls)
        )


MACHINE_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

MANY_PROBES = PRODUCTION_DEFAULT.model_copy(update={"half_open_max_calls": 3, "success_threshold": 4})


def _machine_for(config: ModelCircuitBreakerConfig) -> type[BreakerMachine]:
    return type(f"BreakerMachine_{id(config)}", (BreakerMachine,), {"config": config})


@pytest.mark.parametrize(
    "config",
    [PRODUCTION_DEFAULT, STAGING_DEFAULT, DEVELOPMENT_DEFAULT, MANY_PROBES],
    ids=["production", "staging", "development", "three-probes"],
)
def test_breaker_matches_reference_model(config: ModelCircuitBreakerConfig) -> None:
    machine = _machine_for(config)
    machine.TestCase.settings = MACHINE_SETTINGS
    machine.TestCase().runTest()
