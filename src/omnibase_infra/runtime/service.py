"""``onex-infra run``: start every component, run the workflows, stop gracefully.

Start order: PostgreSQL pool (schema version checked) → audit sink → producer
pool → event queue → consumer → HTTP. A server that is down at startup is
retried until ``ONEX_STARTUP_TIMEOUT``; a configuration or credential error
stops at once.

With a credential store (``VAULT_ADDR``), rotated credentials are taken into use while
running (``credential_rotation``): the pool renews its user and connections, the producers
are replaced, and the consumer is rebuilt after its batch in flight is committed.

Shutdown (SIGTERM or SIGINT, or one of the service's tasks crashed; docs/architecture.md,
Delivery semantics): stop fetching, let the batch in flight finish and commit, leave the
consumer group, stop the outbox relay and the health loop, spill the event queue to the
outbox, flush the producers, flush the audit log, close the pool, stop HTTP, each step
within the contract's ``shutdown_grace_seconds``.

``run()`` returns the exit code: 0 after SIGTERM or SIGINT, 1 when a task (the
consumer loop, the outbox relay, the health loop, the credential refresh)
crashed, named with its exception in the log (``runtime.service_tasks``). A
configuration error at startup raises ``ConfigurationError`` (``onex-infra
run`` exits 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.errors import ConfigurationError, InfraError
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.infrastructure.vault_settings import load_vault_settings
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig
from omnibase_infra.models.model_vault_credentials import CredentialTarget, ModelVaultCredentials
from omnibase_infra.nodes.kafka_adapter.v1_0_0.consumer_loop import ConsumerLoop
from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import ProtocolKafkaConsumer, create_consumer
from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations
from omnibase_infra.observability.http_server import HealthServer, build_health_app
from omnibase_infra.runtime.credential_rotation import CredentialRotation, InUse, Renewer
from omnibase_infra.runtime.node_host import HostedNodes, host_nodes
from omnibase_infra.runtime.process_services import install_components, process_tracing, shutdown_tracing
from omnibase_infra.runtime.service_components import BreakerGate, ServiceComponents, build_components
from omnibase_infra.runtime.service_observers import BreakerAdmin, ServiceHealthProvider
from omnibase_infra.runtime.service_tasks import ServiceTasks
from omnibase_infra.settings import ModelInfraSettings
from omnibase_infra.workflow.records import Partition

logger = logging.getLogger("omnibase_infra.runtime")

ROTATION_CHECK_SECONDS = 1.0
"""How often expired credentials are re-read and compared (an in-memory check until one expires)."""


class InfraService:
    """One running service; ``await run()`` returns the process exit code."""

    def __init__(
        self, settings: ModelInfraSettings, contracts: ContractSet, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.components: ServiceComponents = build_components(settings, contracts, clock=clock)
        # The original guide's get_connection_manager() & co. return these very instances.
        install_components(self.components)
        runtime = contracts.node("infrastructure_orchestrator").workflow_runtime(settings.environment)
        self._grace = float(runtime.shutdown_grace_seconds)
        self._stopping = asyncio.Event()
        self._consumer: ProtocolKafkaConsumer | None = None
        self._loop: ConsumerLoop | None = None
        self._http: HealthServer | None = None
        self._tasks = ServiceTasks(stopping=self._stopping.is_set, on_crash=self.request_stop)
        self.nodes: HostedNodes | None = None
        self._credentials = _credential_provider(settings, contracts, clock)
        self._rotation: CredentialRotation | None = None
        if self._credentials is not None and "postgres" in self._credentials.settings.targets:
            # New connections ask the store, so a rotated password is picked up without a restart.
            self.components.database.use_password_source(self._credentials.password_source("postgres"))

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
        process_tracing()  # from self._settings, counted in self.components.metrics
        try:
            started = await self._start()
            if started:
                logger.info(
                    "service running",
                    extra={
                        "topics": list(self.components.topology.subscription),
                        "nodes": list(self.nodes.names) if self.nodes else [],
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
        c = self.components
        if self._credentials is not None:
            await self._credentials.start()
            self._rotation = self._credential_rotation(self._credentials)
        if not await self._retry_start("PostgreSQL", c.database.start):
            return False
        async with c.database.acquire_connection() as conn:
            await migrations.check_schema(conn, self._settings.postgres.schema_name)
        await c.audit_sink.start()
        if not await self._retry_start("Kafka producers", c.producers.start):
            return False
        await c.event_publisher.start()
        self._loop, self._consumer = self._build_consumer_loop()
        consumer = self._consumer
        if not await self._retry_start("Kafka consumer", consumer.start):
            return False
        self.nodes = await host_nodes(c, c.executor, self._credentials)

        async def commit(offsets: Mapping[tuple[str, int], int]) -> None:
            # The consumer of the moment: a credential rotation replaces it.
            assert self._consumer is not None
            await self._consumer.commit({Partition(t, p): o for (t, p), o in offsets.items()})

        self.nodes.kafka_handler.commit_offsets = commit
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
        # Everything built so far lives as long as the process: keep it out of the cyclic
        # collector, whose full passes over it paused the event loop for 100-300 ms.
        gc.freeze()
        self._tasks.start("consumer-loop", self._loop.run())
        self._tasks.start("outbox-relay", c.relay.run(self._stopping))
        self._tasks.start("health-loop", self._health_loop())
        if self._rotation is not None and self._credentials is not None:
            refresh = self._credentials.settings.refresh_interval
            self._tasks.start(
                "credential-refresh",
                self._rotation.run(self._stopping, every=min(refresh, ROTATION_CHECK_SECONDS)),
            )
        return True

    def _build_consumer_loop(self) -> tuple[ConsumerLoop, ProtocolKafkaConsumer]:
        c = self.components
        env = self._settings.environment
        batching = c.contracts.node("message_aggregator").batching(env)
        holder: list[ConsumerLoop] = []

        async def revoked(partitions: set[Partition]) -> None:
            await holder[0].on_partitions_revoked(partitions)

        async def assigned(partitions: set[Partition]) -> None:
            await holder[0].on_partitions_assigned(partitions)

        consumer = create_consumer(
            c.topology.subscription,
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            group_id=self._settings.kafka_consumer_group,
            security=self._settings.kafka_security,
            on_revoked=revoked,
            on_assigned=assigned,
            settings=c.contracts.node("kafka_adapter").kafka_consumer(env),
        )
        loop = ConsumerLoop(
            consumer,
            c.processor,
            BreakerGate(c.postgres_breaker, c.kafka_breaker),
            max_records=batching.batch_size,
            poll_timeout_ms=batching.batch_latency_ms,
            clock=self._clock,
        )
        holder.append(loop)
        return loop, consumer

    def _credential_rotation(self, provider: VaultCredentialProvider) -> CredentialRotation:
        """Rotated PostgreSQL credentials renew the pool; Kafka ones the producers, then the consumer."""
        settings, c = self._settings, self.components
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
        """Rebuild the consumer with ``security``: its batch in flight is applied and committed first.

        The old consumer leaves the group; the new one joins it and resumes from the
        committed offsets, so a record fetched but not committed is fetched again.
        """
        old_loop, old_consumer = self._loop, self._consumer
        assert old_loop is not None and old_consumer is not None
        old_task = self._tasks.detach("consumer-loop")  # this stop is intended: no crash
        old_loop.stop()
        if old_task is not None:
            await old_task
        await old_consumer.stop()
        self._settings = self._settings.model_copy(update={"kafka_security": security})
        if self._stopping.is_set():
            return
        self._loop, self._consumer = self._build_consumer_loop()
        if not await self._retry_start("Kafka consumer", self._consumer.start):
            return
        if self._stopping.is_set():
            return  # a stop arrived while it joined: the shutdown stops this consumer
        self._tasks.start("consumer-loop", self._loop.run())
        logger.info("Kafka consumer rebuilt with rotated credentials")

    async def _health_round(self) -> None:
        c = self.components
        health = await c.monitor.sample_once()
        await c.state.step(health)
        if self._loop is not None:
            for partition, lag in self._loop.lag().items():
                c.metrics.set_consumer_lag(partition.topic, partition.partition, lag)
        with contextlib.suppress(InfraError, OSError):
            c.metrics.set_outbox_pending(await c.relay.pending_count())

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
            ("state rows", c.state.store_pending),
            ("event queue", c.event_publisher.stop),
            ("producers", c.producers.stop),
            ("audit", c.audit_sink.stop),
            ("database", c.database.stop),
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
        if c.state.unstored:
            logger.error(
                "%d infrastructure state changes were published but their rows not stored "
                "(PostgreSQL unavailable); the events on the state-changed topic are their record",
                c.state.unstored,
            )
        if self._tasks.crash is not None:
            logger.error("service stopped after %s", self._tasks.crash.describe())
        else:
            logger.info("service stopped")


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
