"""reduce_health: intents only for changes, versions count changes, overall is the worst status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnibase_infra.models.model_health import HealthStatus
from omnibase_infra.models.model_infrastructure_state import (
    ModelComponentSample,
    ModelComponentState,
    ModelHealthSummary,
    ModelInfrastructureState,
)
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.state_reduction import reduce_health

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=30)
T2 = T1 + timedelta(seconds=30)


def summary(at: datetime, **components: HealthStatus | tuple[HealthStatus, str]) -> ModelHealthSummary:
    samples = []
    for name, value in components.items():
        status, reason = value if isinstance(value, tuple) else (value, None)
        samples.append(ModelComponentSample(component=name, status=status, reason=reason, observed_at=at))
    return ModelHealthSummary(samples=tuple(samples), observed_at=at)


def test_first_sight_yields_an_intent_per_component() -> None:
    state, intents = reduce_health(
        ModelInfrastructureState(), summary(T0, postgres="healthy", kafka="degraded")
    )

    assert [(i.component, i.previous_status, i.status, i.changed_at) for i in intents] == [
        ("postgres", None, "healthy", T0),
        ("kafka", None, "degraded", T0),
    ]
    assert state.version == 2
    assert state.components["kafka"].since == T0


def test_unchanged_status_yields_nothing_and_keeps_since() -> None:
    state, _ = reduce_health(ModelInfrastructureState(), summary(T0, postgres="healthy"))

    again, intents = reduce_health(state, summary(T1, postgres="healthy"))

    assert intents == []
    assert again.version == state.version
    assert again.components["postgres"].since == T0


def test_change_yields_intent_with_previous_status_and_new_since() -> None:
    state, _ = reduce_health(ModelInfrastructureState(), summary(T0, postgres="healthy", kafka="healthy"))

    changed, intents = reduce_health(
        state, summary(T1, postgres=("unhealthy", "connection refused"), kafka="healthy")
    )

    assert len(intents) == 1
    intent = intents[0]
    assert (intent.component, intent.previous_status, intent.status) == ("postgres", "healthy", "unhealthy")
    assert intent.reason == "connection refused"
    assert intent.changed_at == T1
    assert changed.components["postgres"].since == T1
    assert changed.components["kafka"].since == T0
    assert changed.version == state.version + 1


def test_reason_change_alone_updates_the_reason_without_an_intent() -> None:
    state, _ = reduce_health(ModelInfrastructureState(), summary(T0, postgres=("degraded", "slow")))

    after, intents = reduce_health(state, summary(T1, postgres=("degraded", "very slow")))

    assert intents == []
    assert after.components["postgres"].reason == "very slow"
    assert after.components["postgres"].since == T0
    assert after.version == state.version


def test_components_missing_from_a_summary_are_kept() -> None:
    state, _ = reduce_health(ModelInfrastructureState(), summary(T0, postgres="healthy", kafka="unhealthy"))

    after, _ = reduce_health(state, summary(T1, postgres="degraded"))

    assert after.components["kafka"].status == "unhealthy"


def test_versions_count_every_change() -> None:
    changes: list[tuple[datetime, HealthStatus]] = [(T0, "healthy"), (T1, "unhealthy"), (T2, "healthy")]
    state = ModelInfrastructureState()
    for at, status in changes:
        state, _ = reduce_health(state, summary(at, postgres=status))

    assert state.version == 3


def test_the_input_state_is_not_changed() -> None:
    state, _ = reduce_health(ModelInfrastructureState(), summary(T0, postgres="healthy"))
    before = state.model_copy(deep=True)

    reduce_health(state, summary(T1, postgres="unhealthy", kafka="healthy"))

    assert state == before


def component_state(status: HealthStatus) -> ModelComponentState:
    return ModelComponentState(component=status, status=status, since=T0)


@pytest.mark.parametrize(
    ("present", "overall"),
    [
        ((), "healthy"),
        (("healthy",), "healthy"),
        (("healthy", "degraded"), "degraded"),
        (("degraded", "healthy"), "degraded"),
        (("healthy", "unhealthy", "degraded"), "unhealthy"),
        (("unhealthy", "degraded"), "unhealthy"),
    ],
)
def test_overall_is_the_worst_status(present: tuple[HealthStatus, ...], overall: HealthStatus) -> None:
    state = ModelInfrastructureState(components={s: component_state(s) for s in present})

    assert state.overall == overall


statuses = st.sampled_from(["healthy", "degraded", "unhealthy"])
reasons = st.none() | st.text(max_size=10)
component_samples = st.dictionaries(
    st.text(min_size=1, max_size=12), st.tuples(statuses, reasons), max_size=6
)


def to_summary(samples: dict[str, tuple[HealthStatus, str | None]], at: datetime) -> ModelHealthSummary:
    return ModelHealthSummary(
        samples=tuple(
            ModelComponentSample(component=name, status=status, reason=reason, observed_at=at)
            for name, (status, reason) in samples.items()
        ),
        observed_at=at,
    )


@settings(max_examples=80, deadline=None)
@given(component_samples, component_samples)
def test_reducing_the_same_summary_twice_yields_nothing_the_second_time(
    earlier: dict[str, tuple[HealthStatus, str | None]], current: dict[str, tuple[HealthStatus, str | None]]
) -> None:
    state, _ = reduce_health(ModelInfrastructureState(), to_summary(earlier, T0))
    once, first_intents = reduce_health(state, to_summary(current, T1))

    twice, second_intents = reduce_health(once, to_summary(current, T2))

    assert second_intents == []
    assert twice == once
    assert once.version == state.version + len(first_intents)
    assert {i.component for i in first_intents} == {
        name for name, (status, _) in current.items() if name not in earlier or earlier[name][0] != status
    }
