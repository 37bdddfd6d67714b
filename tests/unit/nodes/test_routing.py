"""The orchestrator routes an envelope by topic to the workflows whose steps consume it."""

from __future__ import annotations

import uuid

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.models import ModelRouteRequest
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.routing import plan_route


def test_routes_by_topic_and_dead_letters_the_unrouted() -> None:
    workflows = load_contract_set(validate_core=False).workflows
    command = plan_route(
        workflows, ModelRouteRequest(topic="onex.cmd.postgres.operation.v1", envelope_id=uuid.uuid4())
    )
    assert [w.name for w in command.workflows] == ["operations"]
    assert [s.step_id for s in command.workflows[0].steps] == [
        "consume",
        "route",
        "execute",
        "reply",
        "commit",
    ]
    assert command.routed and command.dead_letter_topic is None

    state = plan_route(
        workflows,
        ModelRouteRequest(topic="onex.evt.infrastructure.state-changed.v1", envelope_id=uuid.uuid4()),
    )
    assert [w.name for w in state.workflows] == ["event_store"]

    stray = plan_route(
        workflows, ModelRouteRequest(topic="onex.evt.orders.placed.v1", envelope_id=uuid.uuid4())
    )
    assert not stray.routed
    assert stray.dead_letter_topic == "onex.evt.orders.placed.v1.dlq"
