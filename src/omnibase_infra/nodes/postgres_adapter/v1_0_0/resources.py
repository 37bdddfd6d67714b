"""What postgres_adapter builds from its contract and the settings: pool, breaker, executor.

No I/O here: ``build_postgres_resources`` constructs; the node's ``start()`` connects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from omnibase_infra.clock import Clock
from omnibase_infra.contract_validation.contract_set import LoadedNodeContract
from omnibase_infra.contract_validation.model_environment_settings import ModelPostgresPoolSettings
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker, TransitionListener
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_catalog import ContractOperationCatalog
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import OperationExecutor
from omnibase_infra.nodes.postgres_adapter.v1_0_0.reply_codec import encode_reply
from omnibase_infra.settings import ModelInfraSettings
from omnibase_infra.workflow.protocols import ProtocolTopicAcl

logger = logging.getLogger(__name__)

REPLY_RECORD_HEADROOM = 16 * 1024
"""Bytes of a reply record left for its key, headers and framing (``max_request_size`` is per record)."""


def command_statement_timeout(command_timeout: float, breaker_timeout: float) -> float:
    """How long a command's statement may run: 90 % of the shorter of the pool's
    ``command_timeout`` and the PostgreSQL breaker's ``timeout_seconds``.

    The server cancels the statement first (SQLSTATE 57014: the command's failure,
    ``timeout``); the remaining 10 % is the time the server has to say so before the
    client-side timeout ends the call as an outage.
    """
    return 0.9 * min(command_timeout, breaker_timeout)


def pool_config(
    settings: ModelInfraSettings, pool: ModelPostgresPoolSettings
) -> ModelPostgresConnectionConfig:
    """The contract's pool settings under the operator's explicit ``POSTGRES_*`` values."""
    try:
        return pool.apply_to(settings.postgres)
    except ValidationError as exc:
        reason = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigurationError(
            "POSTGRES_MIN_CONNECTIONS, POSTGRES_MAX_CONNECTIONS",
            f"{reason} (with the contract's postgres_pool for {settings.environment.value})",
        ) from None


@dataclass
class PostgresResources:
    database: PostgresConnectionManager
    breaker: EventBusCircuitBreaker
    catalog: ContractOperationCatalog
    executor: OperationExecutor
    read_connections: int = 1
    """Connections a run of read-only commands is spread over (``run_operation``)."""
    write_connections: int = 1
    """Connections a large event-store batch is split over (``write_rows``)."""
    reads_per_round_trip: int = 1
    """Read-only commands of a run whose statements one connection sends in one round trip."""
    releasing: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    """Connections going back to the pool in the background (``release_later``)."""

    def release_later(self, release: Coroutine[object, object, None]) -> None:
        """Run ``release`` (giving connections back: the pool's reset, a round trip) in the
        background, so that what follows (the replies) does not wait for it. The pool's
        release logs and swallows a dead connection's error; anything else it raises is logged."""
        task = asyncio.ensure_future(release)
        self.releasing.add(task)
        task.add_done_callback(self._released)

    def _released(self, task: asyncio.Task[None]) -> None:
        self.releasing.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.warning("giving a connection back to the pool failed: %s", type(error).__name__)

    async def settle_releases(self) -> None:
        """Wait until every connection ``release_later`` gives back is back in the pool (the
        releases go on if this wait is cancelled)."""
        while self.releasing:
            await asyncio.wait(set(self.releasing))


def build_postgres_resources(
    contract: LoadedNodeContract,
    settings: ModelInfraSettings,
    *,
    clock: Clock,
    listeners: Iterable[TransitionListener],
    completed_topic: str,
    failed_topic: str,
    max_request_size: int,
    topic_acl: ProtocolTopicAcl | None,
) -> PostgresResources:
    env = settings.environment
    pool = contract.postgres_pool(env)
    config = pool_config(settings, pool)
    database = PostgresConnectionManager(config, clock=clock)
    breaker = EventBusCircuitBreaker.from_contract(
        contract.circuit_breakers, name="postgres", environment=env, clock=clock, listeners=listeners
    )
    catalog = ContractOperationCatalog(contract.operations)
    executor = OperationExecutor(
        catalog,
        completed_topic=completed_topic,
        failed_topic=failed_topic,
        encode_reply=encode_reply,
        max_reply_bytes=max_request_size - REPLY_RECORD_HEADROOM,
        statement_timeout_seconds=command_statement_timeout(
            config.command_timeout, breaker.config.timeout_seconds
        ),
        topic_acl=topic_acl,
    )
    # POSTGRES_MAX_CONNECTIONS may shrink the pool below the contract's read/write_connections.
    read_connections = min(pool.read_connections, config.max_connections)
    write_connections = min(pool.write_connections, config.max_connections)
    return PostgresResources(
        database,
        breaker,
        catalog,
        executor,
        read_connections=read_connections,
        write_connections=write_connections,
        reads_per_round_trip=pool.reads_per_round_trip,
    )


__all__ = [
    "REPLY_RECORD_HEADROOM",
    "PostgresResources",
    "build_postgres_resources",
    "command_statement_timeout",
    "pool_config",
]
