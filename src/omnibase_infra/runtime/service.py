"""``onex-infra run``: host the nodes, start them, run the workflows, stop gracefully.

Start (``_start``; ``run`` first logs ``service starting``, the moment the bench times the
service's own start from), in this order:

1. the credential store, when ``VAULT_ADDR`` is set (log in, read the credentials);
2. ``host_components``: the nodes hosted (loaded through the registry, initialised,
   infrastructure_orchestrator's workflows compiled) plus metrics, audit and the health
   monitor, no I/O; installed as the process's components; the consumer built:
   kafka_adapter's consumer loop over group_gateway's subscription, handing each batch to
   group_gateway (no I/O);
3. at the same time (they wait on servers, not on each other; the first error cancels the
   others): postgres_adapter's ``start`` (the PostgreSQL pool, schema version checked) then
   the audit sink; kafka_adapter's ``start`` (the producer pool, then the event queue, the
   durable publisher of state events); the consumer started (its group joined). Meanwhile
   a thread imports what steps 4 and 5 need (``runtime.warm_imports``: tracing's SDK, HTTP);
4. tracing configured; then the consumer loop task: the records waiting on the topics do
   not wait for what follows;
5. HTTP (health, metrics, admin), then one health round for ``/health`` and the gauges;
6. the other tasks: each workflow infrastructure_orchestrator schedules
   (``trigger: repeat``, the outbox relay: back to back while it reports work, else
   ``outbox_idle_interval_ms`` idle or until a new row's notification (the
   ``outbox-listener`` task, postgres_adapter's ``OutboxListener``); ``trigger: interval``,
   infrastructure_state: every ``HEALTH_CHECK_INTERVAL``), the health loop and, with a credential store, the
   credential refresh;
7. ``startup_gc.settle()``: ``gc.freeze()`` over everything built so far, the collector's
   start-up thresholds undone.

The starts of step 3 retry a server that is down until ``ONEX_STARTUP_TIMEOUT``; a
configuration or credential error stops at once.

With a credential store (``VAULT_ADDR``), rotated credentials are taken into use while
running (``credential_rotation``): the pool renews its user and connections, the producers
are replaced, and the consumer is rebuilt after its batch in flight is committed.

Shutdown (``_shutdown``; SIGTERM or SIGINT, or one of the service's tasks crashed;
docs/architecture.md, Delivery semantics): the consumer loop stops fetching and the
triggers stop starting runs; the credential refresh (a consumer rebuild under way) and
then the consumer loop (the batch in flight applied and committed) get
``shutdown_grace_seconds`` each to finish. Then, each within that grace: the consumer
stops (leaving the group); the other tasks (the scheduled workflows, the health loop)
finish, 5 s each, or are cancelled; kafka_adapter stops (its own consumer if any, the
event queue tries Kafka once more and spills the rest to the outbox, the producers are
flushed and closed); the audit log is flushed; postgres_adapter stops (the state rows
still waiting stored, the pool closed); the credential store stops; HTTP stops. Tracing
is shut down last.

``run()`` returns the exit code: 0 after SIGTERM or SIGINT, 1 when a task (the
consumer loop, a scheduled workflow, the health loop, the credential refresh)
crashed, named with its exception in the log (``runtime.service_tasks``). A
configuration error at startup raises ``ConfigurationError`` (``onex-infra
run`` exits 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.errors import ConfigurationError, InfraError
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.infrastructure.vault_settings import load_vault_settings
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig
from omnibase_infra.models.model_vault_credentials import CredentialTarget, ModelVaultCredentials
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.triggers import run_every, run_repeating
from omnibase_infra.nodes.kafka_adapter.v1_0_0.consumer_loop import ConsumerLoop
from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import ProtocolKafkaConsumer
from omnibase_infra.nodes.postgres_adapter.v1_0_0.outbox_listener import OutboxListener
from omnibase_infra.runtime import startup_gc, warm_imports
from omnibase_infra.runtime.credential_rotation import CredentialRotation, InUse, Renewer
from omnibase_infra.runtime.node_host import HostedNodes
from omnibase_infra.runtime.process_services import install_components, process_tracing, shutdown_tracing
from omnibase_infra.runtime.service_components import BreakerGate, ServiceComponents, host_components
from omnibase_infra.runtime.service_observers import BreakerAdmin, ServiceHealthProvider
from omnibase_infra.runtime.service_tasks import ServiceTasks
from omnibase_infra.settings import ModelInfraSettings

if TYPE_CHECKING:
    from omnibase_infra.observability.http_server import HealthServer

logger = logging.getLogger("omnibase_infra.runtime")

ROTATION_CHECK_SECONDS = 1.0
"""How often expired credentials are re-read and compared (an in-memory check until one expires)."""


class InfraService:
    """One running service; ``await run()`` returns the process exit code."""

    def __init__(
        self, settings: ModelInfraSettings, contracts: ContractSet, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._settings = settings
        self._contracts = contracts
        self._clock = clock
        self.components: ServiceComponents | None = None
        runtime = contracts.node("infrastructure_orchestrator").workflow_runtime(settings.environment)
        self._grace = float(runtime.shutdown_grace_seconds)
        self._idle_seconds = runtime.outbox_idle_interval_ms / 1000
        self._stopping = asyncio.Event()
        self._consumer: ProtocolKafkaConsumer | None = None
        self._loop: ConsumerLoop | None = None
        self._http: HealthServer | None = None
        self._outbox_listener: OutboxListener | None = None
        self._tasks = ServiceTasks(stopping=self._stopping.is_set, on_crash=self.request_stop)
        self._credentials = _credential_provider(settings, contracts, clock)
        self._rotation: CredentialRotation | None = None

    @property
    def nodes(self) -> HostedNodes | None:
        return self.components.nodes if self.components is not None else None

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM and SIGINT do)."""
        if not self._stopping.is_set():
            logger.info("shutdown requested")
        self._stopping.set()
        if self._loop is not None:
            self._loop.stop()

    async def run(self) -> int:
        """Start, serve until a stop is requested or a task crashes, stop in order; return the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        # The moment the service itself starts (imports and the contracts' validation are
        # behind it): the bench times "service start → first commit" from this line.
        logger.info("service starting", extra={"environment": self._settings.environment})
        try:
            started = await self._start()
            if started and self.components is not None:
                logger.info(
                    "service running",
                    extra={
                        "topics": list(self.components.nodes.group_gateway.subscription),
                        "nodes": list(self.components.nodes.names),
                        "health_port": self._http.health_port if self._http else None,
                    },
                )
                await self._stopping.wait()
        finally:
            await self._shutdown()
            shutdown_tracing()
        return self._tasks.exit_code

    async def _retry_start(self, what: str, start: Callable[[], Awaitable[None]]) -> bool:
        """Start ``what``, retrying outages until the startup timeout; False if stopped meanwhile."""
        deadline = self._clock.monotonic() + self._settings.startup_timeout
        delay = 0.5
        while True:
            try:
                await start()
                return True
            except ConfigurationError:
                raise
            except Exception as exc:
                if not is_outage(exc) or self._clock.monotonic() >= deadline:
                    raise
                logger.warning("%s unavailable at startup (%s); retrying", what, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return False
            delay = min(delay * 2, 5.0)

    async def _start(self) -> bool:
        if self._credentials is not None:
            await self._credentials.start()
        c = await host_components(
            self._settings, self._contracts, clock=self._clock, credentials=self._credentials
        )
        self.components = c
        install_components(c)
        nodes = c.nodes
        if self._credentials is not None:
            self._rotation = self._credential_rotation(self._credentials)
        self._loop, self._consumer = self._build_consumer_loop()
        consumer = self._consumer

        async def database_then_group() -> bool:
            if not await self._retry_start("PostgreSQL", nodes.postgres_adapter.start):
                return False
            # The group is joined only once the database is up: partitions assigned to an
            # instance that cannot store them would sit unconsumed while its peers could
            # take them (a rolling deploy with this instance's PostgreSQL slow or down).
            joined = asyncio.ensure_future(self._retry_start("Kafka consumer", consumer.start))
            try:
                await c.audit_sink.start()
            except BaseException:
                joined.cancel()
                raise
            return await joined

        # The pool and the producers wait on servers, not on each other, and the group join
        # overlaps the audit sink's start: the first commit is two rounds of start-up I/O
        # after the start instead of four. Meanwhile a thread imports tracing's SDK and HTTP.
        warm_imports.warm()
        started = await _all_started(
            database_then_group(),
            self._retry_start("Kafka producers", nodes.kafka_adapter.start),
        )
        if not started:
            return False
        process_tracing()  # from the settings, counted in c.metrics; before any batch
        # The consumer loop starts before HTTP and the first health round: the records
        # waiting on the topics do not wait for them.
        self._tasks.start("consumer-loop", self._loop.run())
        from omnibase_infra.observability.http_server import HealthServer, build_health_app

        self._http = HealthServer(
            build_health_app(
                ServiceHealthProvider(
                    c.monitor,
                    database_ready=lambda: c.database.started,
                    consumer_ready=lambda: self._loop is not None and self._loop.running,
                ),
                c.metrics,
                BreakerAdmin(c.breakers),
                self._settings.admin_token,
                audit=c.audit,
            ),
            c.metrics,
        )
        await self._http.start(
            self._settings.http_host,
            self._settings.health_check_port,
            self._settings.prometheus_metrics_port,
        )
        await self._health_round()
        orchestrator = nodes.infrastructure_orchestrator
        # The outbox relay (the one repeat workflow) wakes on a new row's notification.
        self._outbox_listener = OutboxListener(
            nodes.postgres_adapter.resources.database,
            self._settings.postgres.schema_name,
            poll_seconds=self._idle_seconds,
            retry_seconds=max(1.0, self._idle_seconds),
            probe_seconds=self._settings.health_check_interval,
            generation=lambda: nodes.postgres_adapter.resources.database.generation,
        )
        self._tasks.start("outbox-listener", self._outbox_listener.run(self._stopping))
        for workflow in orchestrator.scheduled():
            if workflow.trigger == "repeat":
                job = run_repeating(
                    orchestrator,
                    workflow.name,
                    self._stopping,
                    idle_seconds=self._idle_seconds,
                    clock=self._clock,
                    wake=self._outbox_listener.wake,
                )
            else:
                job = run_every(
                    orchestrator,
                    workflow.name,
                    self._stopping,
                    every_seconds=self._settings.health_check_interval,
                    clock=self._clock,
                )
            self._tasks.start(workflow.name, job)
        self._tasks.start("health-loop", self._health_loop())
        if self._rotation is not None and self._credentials is not None:
            refresh = self._credentials.settings.refresh_interval
            self._tasks.start(
                "credential-refresh",
                self._rotation.run(self._stopping, every=min(refresh, ROTATION_CHECK_SECONDS)),
            )
        # Everything built so far lives as long as the process (the nodes, HTTP, the tasks,
        # and what the warm-import thread loaded meanwhile): keep it out of the cyclic
        # collector, whose full passes over it paused the event loop for 100-300 ms, and
        # collect as usual from now on (start-up ran with relaxed thresholds). Frozen only
        # now, not before the consumer loop: aiohttp, still loading in the thread then,
        # would have stayed in the collected generations.
        startup_gc.settle()
        return True

    def _build_consumer_loop(self) -> tuple[ConsumerLoop, ProtocolKafkaConsumer]:
        assert self.components is not None
        nodes = self.components.nodes
        batching = self._contracts.node("message_aggregator").batching(self._settings.environment)
        gateway = nodes.group_gateway
        return nodes.kafka_adapter.consumer_loop(  # type: ignore[no-any-return]  # the hosted node's method
            gateway.subscription,
            gateway,
            BreakerGate(nodes.postgres_adapter, nodes.kafka_adapter),
            max_records=batching.batch_size,
            poll_timeout_ms=batching.batch_latency_ms,
        )

    def _credential_rotation(self, provider: VaultCredentialProvider) -> CredentialRotation:
        """Rotated PostgreSQL credentials renew the pool; Kafka ones the producers, then the consumer."""
        settings, c = self._settings, self.components
        assert c is not None
        in_use: dict[CredentialTarget, InUse] = {}
        renewers: dict[CredentialTarget, list[Renewer]] = {}
        if "postgres" in provider.settings.targets:
            in_use["postgres"] = InUse(settings.postgres.user, settings.postgres.password)
            renewers["postgres"] = [lambda new: c.database.renew_credentials(new.username)]
        if "kafka" in provider.settings.targets and settings.kafka_security.sasl_mechanism is not None:
            security = settings.kafka_security
            in_use["kafka"] = InUse(security.sasl_username, security.sasl_password)
            renewers["kafka"] = [
                lambda new: c.producers.renew_security(self._rotated_security(new)),
                lambda new: self._renew_consumer(self._rotated_security(new)),
            ]
        return CredentialRotation(provider, renewers, in_use, clock=self._clock)

    def _rotated_security(self, new: ModelVaultCredentials) -> ModelKafkaSecurityConfig:
        security = self._settings.kafka_security
        return security.model_copy(
            update={"sasl_username": new.username or security.sasl_username, "sasl_password": new.password}
        )

    async def _renew_consumer(self, security: ModelKafkaSecurityConfig) -> None:
        """Rebuild the consumer with ``security``: its batch in flight is applied and committed first."""
        old_loop, old_consumer = self._loop, self._consumer
        assert old_loop is not None and old_consumer is not None
        old_task = self._tasks.detach("consumer-loop")  # this stop is intended: no crash
        old_loop.stop()
        if old_task is not None:
            await old_task
        await old_consumer.stop()
        self._settings = self._settings.model_copy(update={"kafka_security": security})
        assert self.components is not None
        self.components.nodes.kafka_adapter.use_settings(self._settings)
        if self._stopping.is_set():
            return
        self._loop, self._consumer = self._build_consumer_loop()
        if not await self._retry_start("Kafka consumer", self._consumer.start):
            return
        if self._stopping.is_set():
            return
        self._tasks.start("consumer-loop", self._loop.run())
        logger.info("Kafka consumer rebuilt with rotated credentials")

    async def _health_round(self) -> None:
        """Sample health for /health and the gauges (the state workflow samples on its own)."""
        c = self.components
        assert c is not None
        await c.monitor.sample_once()
        if self._loop is not None:
            for partition, lag in self._loop.lag().items():
                c.metrics.set_consumer_lag(partition.topic, partition.partition, lag)
        if self._outbox_listener is not None:
            c.metrics.set_outbox_listening(self._outbox_listener.listening)
        pending = getattr(c.nodes.postgres_adapter, "pending_count", None)
        if pending is not None:
            with contextlib.suppress(InfraError, OSError):
                c.metrics.set_outbox_pending(await pending())

    async def _health_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._settings.health_check_interval)
            if self._stopping.is_set():
                return
            try:
                await self._health_round()
            except Exception as exc:
                logger.warning("health round failed: %s", type(exc).__name__)

    async def _shutdown(self) -> None:
        c = self.components
        self.request_stop()
        if c is None:
            if self._credentials is not None:
                await self._credentials.stop()
            return
        # A credential renewal may be rebuilding the consumer (its old loop finishing a batch,
        # the new consumer joining): let it end first, so the consumer stopped below is the
        # current one and no batch is cut off under it.
        await self._tasks.wait("credential-refresh", self._grace)
        # The batch in flight is applied and committed, or (past the grace period) left
        # uncommitted to be delivered again; either way nothing is lost.
        await self._tasks.wait("consumer-loop", self._grace)
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        if self._consumer is not None:
            steps.append(("consumer", self._consumer.stop))
        steps.append(("tasks", lambda: self._tasks.wait_rest(5.0)))
        steps += [
            ("kafka_adapter", c.nodes.kafka_adapter.stop),
            ("audit", c.audit_sink.stop),
            ("postgres_adapter", c.nodes.postgres_adapter.stop),
        ]
        if self._credentials is not None:
            steps.append(("credential store", self._credentials.stop))
        if self._http is not None:
            steps.append(("http", self._http.stop))
        for name, step in steps:
            try:
                await asyncio.wait_for(step(), self._grace)
            except Exception as exc:
                logger.warning("stopping %s failed: %s", name, type(exc).__name__)
        if self._tasks.crash is not None:
            logger.error("service stopped after %s", self._tasks.crash.describe())
        else:
            logger.info("service stopped")


async def _all_started(*starts: Awaitable[bool]) -> bool:
    """Run ``starts`` together; True when all started. The first error cancels the others."""
    tasks = [asyncio.ensure_future(start) for start in starts]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return all(results)


def _credential_provider(
    settings: ModelInfraSettings, contracts: ContractSet, clock: Clock
) -> VaultCredentialProvider | None:
    """The credential store when ``VAULT_ADDR`` is set, else ``None``."""
    vault = load_vault_settings(os.environ)
    if vault is None:
        return None
    return VaultCredentialProvider.from_contract(
        vault, contracts.node("vault_adapter"), settings.environment, clock=clock
    )


__all__ = ["InfraService"]
