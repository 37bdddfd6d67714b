"""Examples of the breaker's rules; the exhaustive check is the hypothesis state machine."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import CircuitOpenError, ConfigurationError, OutageError, PoisonRecordError
from omnibase_infra.infrastructure.circuit_breaker_states import (
    LEGAL_TRANSITIONS,
    IllegalTransitionError,
    check_transition,
)
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.models.model_circuit_breaker_config import (
    DEVELOPMENT_DEFAULT,
    PRODUCTION_DEFAULT,
    STAGING_DEFAULT,
    ModelCircuitBreakerConfig,
    ModelCircuitBreakerEnvironmentConfig,
)
from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition

from .autojump import run_autojump


def make(
    config: ModelCircuitBreakerConfig = PRODUCTION_DEFAULT,
) -> tuple[EventBusCircuitBreaker, FakeClock, list[ModelCircuitBreakerTransition]]:
    clock = FakeClock()
    events: list[ModelCircuitBreakerTransition] = []
    return EventBusCircuitBreaker("bus", config, clock=clock, listeners=[events.append]), clock, events


def fail(breaker: EventBusCircuitBreaker, exc: BaseException | None = None) -> None:
    breaker.acquire_permission().on_error(exc or ConnectionRefusedError())


def succeed(breaker: EventBusCircuitBreaker) -> None:
    breaker.acquire_permission().on_success()


async def hang() -> None:
    await asyncio.Event().wait()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("production", PRODUCTION_DEFAULT), ("staging", STAGING_DEFAULT), ("development", DEVELOPMENT_DEFAULT)],
)
def test_from_environment_uses_the_environments_values(
    name: str, expected: ModelCircuitBreakerConfig
) -> None:
    breaker = EventBusCircuitBreaker.from_environment(environment=name)
    assert breaker.config == expected
    assert breaker.environment == name


def test_from_environment_detects_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("ENVIRONMENT", "ENV", "DEPLOYMENT_ENV", "NODE_ENV", "OMNIBASE_ENV", "ONEX_ENV"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NODE_ENV", "stg")
    breaker = EventBusCircuitBreaker.from_environment()
    assert breaker.config == STAGING_DEFAULT
    assert breaker.environment == EnumEnvironment.STAGING


def test_from_environment_rejects_an_unknown_environment() -> None:
    with pytest.raises(ConfigurationError, match="unrecognised environment"):
        EventBusCircuitBreaker.from_environment(environment="qa")


def test_from_contract_takes_the_contracts_values() -> None:
    custom = STAGING_DEFAULT.model_copy(update={"failure_threshold": 7})
    env_config = ModelCircuitBreakerEnvironmentConfig(
        production=PRODUCTION_DEFAULT, staging=custom, development=DEVELOPMENT_DEFAULT
    )
    breaker = EventBusCircuitBreaker.from_contract(env_config, name="postgres_adapter", environment="staging")
    assert breaker.name == "postgres_adapter"
    assert breaker.config.failure_threshold == 7


def test_opens_after_failure_threshold_consecutive_outages() -> None:
    breaker, _, events = make(STAGING_DEFAULT)  # threshold 3
    fail(breaker)
    fail(breaker)
    assert breaker.state == "closed"
    assert breaker.metrics().failure_count == 2
    fail(breaker)
    assert breaker.state == "open"
    assert [(e.from_state, e.to_state, e.reason) for e in events] == [
        ("closed", "open", "failure_threshold_reached")
    ]
    assert events[0].consecutive_failures == 3


def test_a_success_resets_the_consecutive_count() -> None:
    breaker, _, _ = make(STAGING_DEFAULT)
    fail(breaker)
    fail(breaker)
    succeed(breaker)
    fail(breaker)
    fail(breaker)
    assert breaker.state == "closed"


def test_ignored_errors_neither_count_nor_reset() -> None:
    breaker, _, _ = make(STAGING_DEFAULT)
    fail(breaker)
    fail(breaker)
    fail(breaker, PoisonRecordError("decode", "UnicodeDecodeError", "bad"))
    fail(breaker, ValueError("a bug"))
    assert breaker.state == "closed"
    assert breaker.metrics().ignored_calls == 2
    fail(breaker)
    assert breaker.state == "open"


def test_open_refuses_calls_and_counts_them() -> None:
    breaker, clock, _ = make(DEVELOPMENT_DEFAULT)  # 2 failures, 15 s
    fail(breaker)
    fail(breaker)
    clock.advance(5)
    with pytest.raises(CircuitOpenError) as raised:
        breaker.acquire_permission()
    assert raised.value.retry_after_seconds == pytest.approx(10)
    assert breaker.metrics().not_permitted_calls == 1
    assert not breaker.allows_calls()


def test_open_becomes_half_open_by_the_clock_without_traffic() -> None:
    breaker, clock, events = make(PRODUCTION_DEFAULT)  # 60 s
    for _ in range(5):
        fail(breaker)
    opened_at = clock.now()
    clock.advance(59.5)
    assert breaker.state == "open"
    assert breaker.seconds_until_half_open() == pytest.approx(0.5)
    clock.advance(100)  # nobody looked for a while
    assert breaker.state == "half_open"
    assert events[-1].reason == "recovery_timeout_elapsed"
    assert events[-1].at == opened_at + timedelta(seconds=60)


def test_half_open_admits_a_bounded_number_of_probes() -> None:
    config = PRODUCTION_DEFAULT.model_copy(update={"half_open_max_calls": 2})
    breaker, clock, _ = make(config)
    for _ in range(5):
        fail(breaker)
    clock.advance(60)
    first = breaker.acquire_permission()
    breaker.acquire_permission()
    with pytest.raises(CircuitOpenError):
        breaker.acquire_permission()
    first.on_success()
    breaker.acquire_permission()  # the finished probe freed its slot


def test_half_open_closes_after_success_threshold() -> None:
    breaker, clock, events = make(PRODUCTION_DEFAULT)  # 3 successes
    for _ in range(5):
        fail(breaker)
    clock.advance(60)
    succeed(breaker)
    succeed(breaker)
    assert breaker.state == "half_open"
    succeed(breaker)
    assert breaker.state == "closed"
    assert events[-1].reason == "success_threshold_reached"


def test_any_failure_in_half_open_reopens() -> None:
    breaker, clock, events = make(PRODUCTION_DEFAULT)
    for _ in range(5):
        fail(breaker)
    clock.advance(60)
    succeed(breaker)
    fail(breaker)
    assert breaker.state == "open"
    assert events[-1].reason == "half_open_probe_failed"
    assert breaker.seconds_until_half_open() == pytest.approx(60)


def test_an_ignored_error_frees_a_probe_slot_without_counting() -> None:
    breaker, clock, _ = make(PRODUCTION_DEFAULT)
    for _ in range(5):
        fail(breaker)
    clock.advance(60)
    fail(breaker, PoisonRecordError("decode", "x", "y"))
    assert breaker.state == "half_open"
    breaker.acquire_permission()


def test_outcomes_of_calls_admitted_before_a_transition_do_not_move_the_new_state() -> None:
    breaker, clock, _ = make(DEVELOPMENT_DEFAULT)
    early = breaker.acquire_permission()
    fail(breaker)
    fail(breaker)
    clock.advance(15)
    assert breaker.state == "half_open"
    early.on_error(ConnectionResetError())  # admitted while closed: counted, but no reopening
    assert breaker.state == "half_open"
    assert breaker.metrics().failed_calls == 3


def test_call_enforces_timeout_seconds_with_the_real_timeout() -> None:
    breaker, clock, _ = make(STAGING_DEFAULT)  # 20 s deadline
    started = clock.monotonic()

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await breaker.call(hang)

    run_autojump(scenario(), clock)
    assert clock.monotonic() - started == 20
    assert breaker.metrics().failed_calls == 1


def test_a_hanging_probe_cannot_keep_half_open_stuck() -> None:
    breaker, clock, events = make(PRODUCTION_DEFAULT)
    for _ in range(5):
        fail(breaker)
    clock.advance(60)

    async def scenario() -> None:
        assert breaker.state == "half_open"
        with pytest.raises(TimeoutError):
            await breaker.call(hang)

    run_autojump(scenario(), clock)
    assert breaker.state == "open"
    assert events[-1].reason == "half_open_probe_failed"
    clock.advance(60)
    assert breaker.allows_calls()


def test_call_returns_the_result_and_passes_errors_through() -> None:
    breaker, clock, _ = make()

    async def ok() -> int:
        return 42

    async def poison() -> None:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")

    async def scenario() -> None:
        assert await breaker.call(ok) == 42
        with pytest.raises(UnicodeDecodeError):
            await breaker.call(poison)

    run_autojump(scenario(), clock)
    metrics = breaker.metrics()
    assert (metrics.successful_calls, metrics.ignored_calls, metrics.failed_calls) == (1, 1, 0)


def test_call_refused_while_open_never_runs_the_function() -> None:
    breaker, clock, _ = make(DEVELOPMENT_DEFAULT)
    fail(breaker)
    fail(breaker)
    ran: list[bool] = []

    async def record() -> None:
        ran.append(True)

    async def scenario() -> None:
        with pytest.raises(CircuitOpenError):
            await breaker.call(record)

    run_autojump(scenario(), clock)
    assert ran == []


def test_cancelling_a_call_releases_its_probe_slot() -> None:
    breaker, clock, _ = make(PRODUCTION_DEFAULT)
    for _ in range(5):
        fail(breaker)
    clock.advance(60)

    async def scenario() -> None:
        task = asyncio.create_task(breaker.call(hang))
        await asyncio.sleep(0)
        assert not breaker.allows_calls()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.allows_calls()

    run_autojump(scenario(), clock)
    assert breaker.metrics().failed_calls == 5


async def test_force_open_refuses_until_reset() -> None:
    breaker, clock, events = make()
    breaker.force_open()
    breaker.force_open()
    clock.advance(10_000)
    assert breaker.state == "forced_open"
    with pytest.raises(CircuitOpenError) as raised:
        breaker.acquire_permission()
    assert math.isinf(raised.value.retry_after_seconds)
    await breaker.reset_circuit()
    assert breaker.state == "closed"
    assert [(e.to_state, e.reason) for e in events] == [
        ("forced_open", "forced_open"),
        ("closed", "manual_reset"),
    ]


async def test_reset_from_open_closes_and_clears_the_count() -> None:
    breaker, _, _ = make(DEVELOPMENT_DEFAULT)
    fail(breaker)
    fail(breaker)
    await breaker.reset_circuit()
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "closed"


def test_a_failing_listener_does_not_break_the_breaker() -> None:
    breaker, _, _ = make(DEVELOPMENT_DEFAULT)
    seen: list[str] = []

    def broken(event: ModelCircuitBreakerTransition) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(broken)
    breaker.add_listener(lambda event: seen.append(event.to_state))
    fail(breaker)
    fail(breaker)
    assert breaker.state == "open"
    assert seen == ["open"]


def test_metrics_report_rates_and_the_queue_gauge() -> None:
    breaker, _, _ = make(STAGING_DEFAULT)
    succeed(breaker)
    succeed(breaker)
    succeed(breaker)
    fail(breaker)
    breaker.set_queue_gauge(lambda: (7, 2))
    metrics = breaker.metrics()
    assert metrics.success_rate == pytest.approx(0.75)
    assert (metrics.events_queued, metrics.events_spilled) == (7, 2)
    assert metrics.state == "closed"
    assert metrics.seconds_until_half_open is None


def test_the_transition_table_rejects_illegal_moves() -> None:
    check_transition("closed", "open", "failure_threshold_reached")
    with pytest.raises(IllegalTransitionError):
        check_transition("closed", "half_open", "recovery_timeout_elapsed")
    with pytest.raises(IllegalTransitionError):
        check_transition("forced_open", "half_open", "recovery_timeout_elapsed")
    with pytest.raises(IllegalTransitionError):
        check_transition("open", "closed", "success_threshold_reached")
    assert ("forced_open", "open") not in LEGAL_TRANSITIONS


def test_outage_error_subclass_counts() -> None:
    breaker, _, _ = make(DEVELOPMENT_DEFAULT)
    fail(breaker, OutageError("down"))
    fail(breaker, TimeoutError())
    assert breaker.state == "open"
