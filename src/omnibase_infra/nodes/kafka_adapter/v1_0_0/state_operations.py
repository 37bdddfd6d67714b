"""kafka_adapter's part of ``infrastructure_state``: sample the brokers, record each change durably.

``health_check`` starts the round (from the run's ``Tick``) or adds to it: the
producer pool's health check (an unhealthy sample naming the error when it fails or
takes longer than ``HEALTH_CHECK_TIMEOUT_SECONDS``) and the Kafka breaker's metrics.

``publish_state`` records the round's changes in order, each as a ``state-changed``
envelope keyed by its component, through this node's durable publisher
(``ResilientPublisher.publish_durably`` over its producers and breaker): it returns
only once the event is acknowledged by Kafka or stored in the outbox (``onex_outbox``,
``origin = 'service'``, published later by the relay), and raises when it could do
neither (Kafka and PostgreSQL both down). At the first change it cannot record it
stops: later changes of the round wait too (events of a round keep their order), and
``HealthRound.recorded`` says how many were recorded; infrastructure_reducer's
``apply_recorded`` then applies exactly those. Each event carries the overall status
once it and the changes before it apply (computed by ``fold_state``) and the round's
environment.

The state topic is ``ONEX_STATE_CHANGED_TOPIC`` when set (the settings), else the
step's first ``publishes`` topic; the topic ACL must allow it for ``state`` (else the
change is not recorded, and the refusal logged, like any other failure).

The outbox: the durable publisher spills to the ``ProtocolOutboxSpill``
(``infrastructure.outbox_spill``) registered in the container, i.e. postgres_adapter's
``outbox_spill``. It is resolved at ``initialize()`` when registered by then, else at
``start()``; without one, a change Kafka does not acknowledge is not recorded (the
next round retries it). An event parked after repeated failures goes to the spill's
``park`` (a ``dead_letter`` row of ``onex_outbox``) when it has one, never to a list in memory.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol, cast

from omnibase_infra.errors import LifecycleError
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.infrastructure_health_monitor import sample_kafka
from omnibase_infra.infrastructure.outbox_spill import ProtocolOutboxSpill
from omnibase_infra.infrastructure.resilient_publisher import ProtocolDeadLetterSink, ResilientPublisher
from omnibase_infra.models.model_infrastructure_state import ModelStateChangedPayload
from omnibase_infra.observability.propagation import inject_trace_context
from omnibase_infra.workflow.envelopes import encode_state_changed
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import HealthRound, Tick

if TYPE_CHECKING:
    from omnibase_core.models.container.model_onex_container import ModelONEXContainer

    from omnibase_infra.clock import Clock
    from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
    from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
    from omnibase_infra.nodes.node_binding import NodeBinding
    from omnibase_infra.settings import ModelInfraSettings
    from omnibase_infra.workflow.protocols import ProtocolTopicAcl

HEALTH_CHECK_TIMEOUT_SECONDS = 10.0
"""A health check that takes longer reports Kafka unhealthy (the health monitor's bound)."""

DEFAULT_MAX_ATTEMPTS = 3

logger = logging.getLogger(__name__)


class ProtocolDurablePublisher(Protocol):
    """Returns once the event is acknowledged by Kafka or stored in the outbox; raises otherwise."""

    async def publish_durably(self, event: OutboundEvent) -> object: ...


class StateOperations:
    """Mixin of the kafka_adapter node (its producers, breaker, ACL, binding and settings)."""

    if TYPE_CHECKING:

        @property
        def producers(self) -> KafkaProducerPool: ...
        @property
        def breaker(self) -> EventBusCircuitBreaker: ...
        @property
        def binding(self) -> NodeBinding: ...

        container: ModelONEXContainer
        _acl: ProtocolTopicAcl | None
        _clock: Clock
        _settings_now: ModelInfraSettings

        async def resolve_optional[P](self, protocol: type[P]) -> P | None: ...

    _state_publisher: ProtocolDurablePublisher | None = None
    _owned_publisher: ResilientPublisher | None = None
    state_published: int = 0
    """State-changed events recorded (published or spilled) by ``publish_state``."""

    @operation(input=Tick, output=HealthRound)
    async def health_check(self, tick: Tick, step: StepContext) -> HealthRound:
        """The round with the producer pool's health and the Kafka breaker's metrics."""
        health = HealthRound.of(tick)
        if not health.environment:
            health.environment = str(self.binding.environment)
        health.kafka = await sample_kafka(self.producers, HEALTH_CHECK_TIMEOUT_SECONDS)
        health.breakers.append(self.breaker.metrics())
        return health

    @operation(input=HealthRound)
    async def publish_state(self, health: HealthRound, step: StepContext) -> HealthRound:
        """Record the round's changes in order, up to the first failure (see the module docstring)."""
        waiting = health.changes[health.recorded :]
        if not waiting:
            return health
        topic = self.state_topic(step)
        publisher = await self._durable_publisher()
        for change in waiting:
            intent = change.intent
            payload = ModelStateChangedPayload(
                component=intent.component,
                previous_status=intent.previous_status,
                status=intent.status,
                reason=intent.reason,
                overall_status=change.overall_status,
                changed_at=intent.changed_at,
                environment=health.environment,
            )
            try:
                if self._acl is not None:
                    self._acl.require(topic, "state")
                event = OutboundEvent.create(
                    topic,
                    encode_state_changed(payload),
                    intent.component.encode("utf-8"),
                    inject_trace_context(None),
                )
                await publisher.publish_durably(event)
            except Exception as exc:
                # Later changes wait too: events of one round keep their order.
                logger.warning(
                    "infrastructure state change not recorded (%s); the next round tries again",
                    type(exc).__name__,
                    extra={"component": intent.component, "status": intent.status},
                )
                break
            health.recorded += 1
            object.__setattr__(self, "state_published", self.state_published + 1)
            logger.info(
                "infrastructure state changed",
                extra={"component": intent.component, "status": intent.status},
            )
        return health

    @property
    def event_publisher(self) -> ResilientPublisher | None:
        """The durable publisher of state events this node built (None before ``start()``)."""
        return self._owned_publisher

    def state_topic(self, step: StepContext) -> str:
        """``ONEX_STATE_CHANGED_TOPIC`` when set, else the step's first ``publishes`` topic."""
        configured = self._settings_now.state_changed_topic
        if configured:
            return configured
        if not step.publishes:
            raise LifecycleError(
                f"workflow {step.workflow}, step {step.step_id}: publish_state needs a `publishes` topic"
            )
        return step.publishes[0]

    async def build_event_publisher(self) -> ResilientPublisher | None:
        """Build the durable publisher now (the host does, once the outbox spill is registered)."""
        await self._build_state_publisher(require_spill=True)
        return self._owned_publisher

    async def _build_state_publisher(self, *, require_spill: bool) -> None:
        """Build the durable publisher once, over the registered outbox spill (see the module docstring)."""
        if self._state_publisher is not None:
            return
        spill = await self.resolve_optional(ProtocolOutboxSpill)  # type: ignore[type-abstract]  # resolved by protocol type
        if spill is None and not require_spill:
            return
        if spill is None:
            logger.warning(
                "kafka_adapter: no ProtocolOutboxSpill registered; a state change Kafka does not "
                "acknowledge waits for the next round instead of the outbox"
            )
        # Parked events become the outbox's dead_letter rows, not a list in memory, when the
        # spill can store them (PostgresOutboxSpill can: ``park``).
        parks = spill is not None and callable(getattr(spill, "park", None))
        publisher = ResilientPublisher(
            self.producers,
            self.breaker,
            spill=spill,
            dead_letter_sink=cast(ProtocolDeadLetterSink, spill) if parks else None,
            max_attempts=self._max_attempts(),
            clock=self._clock,
        )
        object.__setattr__(self, "_owned_publisher", publisher)
        object.__setattr__(self, "_state_publisher", publisher)

    async def _durable_publisher(self) -> ProtocolDurablePublisher:
        await self._build_state_publisher(require_spill=True)
        owned = self._owned_publisher
        if owned is not None and owned is self._state_publisher:
            await owned.start()  # idempotent
        publisher = self._state_publisher
        assert publisher is not None
        return publisher

    async def _stop_state_publisher(self) -> None:
        owned = self._owned_publisher
        if owned is not None:
            await owned.stop()

    def _max_attempts(self) -> int:
        binding = self.binding
        orchestrator = binding.contract_set.find_node("infrastructure_orchestrator")
        if orchestrator is None:
            return DEFAULT_MAX_ATTEMPTS
        return orchestrator.workflow_runtime(binding.environment).outbox_max_attempts


__all__ = ["HEALTH_CHECK_TIMEOUT_SECONDS", "ProtocolDurablePublisher", "StateOperations"]
