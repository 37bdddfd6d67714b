"""A typed seam over aiokafka's consumer (aiokafka ships no type information).

``ProtocolKafkaConsumer`` lists exactly what the runtime uses; ``create_consumer``
builds the real ``AIOKafkaConsumer`` behind it with manual commits, so that an
offset is committed only when the runtime says so. A broker that rejects the
credentials or presents an untrusted certificate makes ``start()`` raise
``ConfigurationError`` (aiokafka alone reports it as a connection error, which
would be retried as an outage).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol, cast

from omnibase_infra.contract_validation.model_environment_settings import ModelKafkaConsumerSettings
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig
from omnibase_infra.workflow.records import Partition, ProtocolConsumerRecord

_DIAGNOSIS_TIMEOUT_MS = 10_000
"""How long the one diagnostic connection after a failed bootstrap may take."""


RevokeCallback = Callable[[set[Partition]], Awaitable[None]]


class ProtocolKafkaConsumer(Protocol):
    """The consumer operations the runtime relies on."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(
        self, timeout_ms: int, max_records: int
    ) -> dict[Partition, list[ProtocolConsumerRecord]]: ...
    async def commit(self, offsets: Mapping[Partition, int]) -> None: ...
    def seek(self, partition: Partition, offset: int) -> None: ...
    def pause(self, partitions: Iterable[Partition]) -> None: ...
    def resume(self, partitions: Iterable[Partition]) -> None: ...
    def assignment(self) -> set[Partition]: ...
    def highwater(self, partition: Partition) -> int | None:
        """The partition's high-water mark as of the last fetch, if known."""
        ...


def security_kwargs(security: ModelKafkaSecurityConfig) -> dict[str, object]:
    """aiokafka client keyword arguments for ``security`` (shared by consumer, producer, admin)."""
    kwargs: dict[str, object] = {"security_protocol": security.security_protocol}
    if security.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=security.ssl_ca_file)
        context.check_hostname = security.ssl_check_hostname
        if security.ssl_cert_file and security.ssl_key_file:
            context.load_cert_chain(security.ssl_cert_file, security.ssl_key_file)
        kwargs["ssl_context"] = context
    if security.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = security.sasl_mechanism
        kwargs["sasl_plain_username"] = security.sasl_username
        password = security.sasl_password
        kwargs["sasl_plain_password"] = password.get_secret_value() if password else None
    return kwargs


class _AiokafkaConsumer:
    """Adapts ``AIOKafkaConsumer`` to ``ProtocolKafkaConsumer``."""

    def __init__(
        self,
        topics: Sequence[str],
        *,
        bootstrap_servers: str,
        group_id: str,
        security: ModelKafkaSecurityConfig,
        on_revoked: RevokeCallback,
        on_assigned: RevokeCallback,
        client_id: str,
        settings: ModelKafkaConsumerSettings,
    ) -> None:
        from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]  # untyped library
        from aiokafka.abc import ConsumerRebalanceListener  # type: ignore[import-untyped]

        outer = self

        class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped base class
            async def on_partitions_revoked(self, revoked: Iterable[object]) -> None:
                await on_revoked({outer._wrap(tp) for tp in revoked})

            async def on_partitions_assigned(self, assigned: Iterable[object]) -> None:
                await on_assigned({outer._wrap(tp) for tp in assigned})

        self._tp_type = __import__("aiokafka").TopicPartition
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset=settings.auto_offset_reset,
            isolation_level=settings.isolation_level,
            max_poll_records=settings.max_poll_records,
            max_poll_interval_ms=settings.max_poll_interval_ms,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            max_partition_fetch_bytes=settings.max_partition_fetch_bytes,
            **security_kwargs(security),
        )
        self._topics = list(topics)
        self._listener = _Listener()
        self._bootstrap_servers = bootstrap_servers
        self._security = security
        self._client_id = client_id

    @staticmethod
    def _wrap(tp: object) -> Partition:
        return Partition(cast(str, getattr(tp, "topic")), cast(int, getattr(tp, "partition")))  # noqa: B009

    def _unwrap(self, partition: Partition) -> object:
        return self._tp_type(partition.topic, partition.partition)

    async def start(self) -> None:
        from aiokafka.errors import KafkaConnectionError  # type: ignore[import-untyped]  # untyped library

        self._consumer.subscribe(self._topics, listener=self._listener)
        try:
            await self._consumer.start()
        except KafkaConnectionError:
            from omnibase_infra.infrastructure.kafka_producer_adapter import raise_if_rejected

            await raise_if_rejected(
                self._bootstrap_servers,
                self._security,
                client_id=self._client_id,
                request_timeout_ms=_DIAGNOSIS_TIMEOUT_MS,
            )
            raise

    async def stop(self) -> None:
        await self._consumer.stop()

    async def getmany(
        self, timeout_ms: int, max_records: int
    ) -> dict[Partition, list[ProtocolConsumerRecord]]:
        raw = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return {self._wrap(tp): records for tp, records in raw.items()}

    async def commit(self, offsets: Mapping[Partition, int]) -> None:
        await self._consumer.commit({self._unwrap(p): o for p, o in offsets.items()})

    def seek(self, partition: Partition, offset: int) -> None:
        self._consumer.seek(self._unwrap(partition), offset)

    def pause(self, partitions: Iterable[Partition]) -> None:
        self._consumer.pause(*(self._unwrap(p) for p in partitions))

    def resume(self, partitions: Iterable[Partition]) -> None:
        self._consumer.resume(*(self._unwrap(p) for p in partitions))

    def assignment(self) -> set[Partition]:
        return {self._wrap(tp) for tp in self._consumer.assignment()}

    def highwater(self, partition: Partition) -> int | None:
        value = self._consumer.highwater(self._unwrap(partition))
        return None if value is None else int(value)


def create_consumer(
    topics: Sequence[str],
    *,
    bootstrap_servers: str,
    group_id: str,
    security: ModelKafkaSecurityConfig,
    on_revoked: RevokeCallback,
    on_assigned: RevokeCallback,
    client_id: str = "omnibase-infra",
    settings: ModelKafkaConsumerSettings | None = None,
) -> ProtocolKafkaConsumer:
    """A real aiokafka consumer in the group ``group_id`` with manual offset commits."""
    return _AiokafkaConsumer(
        topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        security=security,
        on_revoked=on_revoked,
        on_assigned=on_assigned,
        client_id=client_id,
        settings=settings or ModelKafkaConsumerSettings(),
    )


__all__ = [
    "ProtocolKafkaConsumer",
    "RevokeCallback",
    "create_consumer",
    "security_kwargs",
]
