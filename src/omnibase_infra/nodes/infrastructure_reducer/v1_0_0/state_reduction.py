"""Pure: fold a health summary into infrastructure state and emit intents (infrastructure_reducer).

Rules: each sampled component takes the sampled status; a component whose
status differs from its previous one (or is seen for the first time) yields a
``ModelStateChangedIntent``; an unchanged component keeps its ``since``. The
state's version rises by one per change. No I/O, no clock: time comes from the
samples, so the same inputs always give the same outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from omnibase_infra.models.model_infrastructure_state import (
    ModelComponentState,
    ModelHealthSummary,
    ModelInfrastructureState,
    ModelStateChangedIntent,
)


def reduce_health(
    state: ModelInfrastructureState, summary: ModelHealthSummary
) -> tuple[ModelInfrastructureState, list[ModelStateChangedIntent]]:
    """Return the new state and one intent per component whose status changed."""
    components = dict(state.components)
    intents: list[ModelStateChangedIntent] = []
    for sample in summary.samples:
        previous = components.get(sample.component)
        if previous is not None and previous.status == sample.status:
            if previous.reason != sample.reason:
                components[sample.component] = previous.model_copy(update={"reason": sample.reason})
            continue
        components[sample.component] = ModelComponentState(
            component=sample.component,
            status=sample.status,
            reason=sample.reason,
            since=sample.observed_at,
        )
        intents.append(
            ModelStateChangedIntent(
                component=sample.component,
                previous_status=previous.status if previous else None,
                status=sample.status,
                reason=sample.reason,
                changed_at=sample.observed_at,
            )
        )
    new_state = ModelInfrastructureState(components=components, version=state.version + len(intents))
    return new_state, intents


def advance(
    state: ModelInfrastructureState,
    candidate: ModelInfrastructureState,
    unrecorded: Sequence[ModelStateChangedIntent],
) -> ModelInfrastructureState:
    """``candidate``, except that each unrecorded change is undone (its component keeps ``state``'s).

    ``candidate`` and the changes are ``reduce_health(state, ...)``'s; ``unrecorded`` is a
    tail of those changes (they are recorded in order, up to the first failure).
    """
    if not unrecorded:
        return candidate
    components = dict(candidate.components)
    for intent in unrecorded:
        previous = state.components.get(intent.component)
        if previous is None:
            del components[intent.component]
        else:
            components[intent.component] = previous
    return ModelInfrastructureState(components=components, version=candidate.version - len(unrecorded))


__all__ = ["advance", "reduce_health"]
