"""``ProtocolKafkaProducer`` over aiokafka's ``AIOKafkaProducer``: the only module that imports aiokafka.

Configuration mapping from ``ModelKafkaProducerConfig``: ``acks``,
``enable_idempotence``, ``compression_type`` (``none`` → no codec),
``linger_ms``, ``batch_size`` → ``max_batch_size``, ``max_request_size``,
``request_timeout_ms``; security from ``ModelKafkaSecurityConfig`` (SASL
PLAIN/SCRAM credentials, an ``ssl.SSLContext`` with the CA, client certificate
and hostname check). Every other tuning field is read by the pool (``client_id``
prefix, pool sizes, ``delivery_timeout_ms``, which the pool applies itself). aiokafka
has no ``retries``, ``buffer_memory`` or ``max_in_flight_requests_per_connection``:
it retries a failed batch until its request times out, holds at most one batch per
partition, and sends one request at a time per broker; the contracts do not carry them.

aiokafka folds an authentication failure during bootstrap into a generic
"Unable to bootstrap" connection error; ``start()`` then opens one diagnostic
connection with the same settings (``raise_if_rejected``, also used by the
consumer) so that a rejected login or an untrusted broker certificate surfaces as
``ConfigurationError`` instead of an outage retried forever.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiokafka  # type: ignore[import-untyped]  # aiokafka ships no type information; see module doc
from aiokafka import codec as kafka_codec
from aiokafka import errors as kafka_errors
from aiokafka.cluster import ClusterMetadata  # type: ignore[import-untyped]  # same package, same reason
from aiokafka.conn import create_conn  # type: ignore[import-untyped]  # same package, same reason
from aiokafka.record.default_records import (  # type: ignore[import-untyped]  # same package, same reason
    DefaultRecordBatchBuilder,
)

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.error_classification import is_authentication_failure
from omnibase_infra.infrastructure.kafka_producer_errors import rejection_error
from omnibase_infra.infrastructure.kafka_producer_protocol import Ack, Header, ProtocolRecordBatch
from omnibase_infra.infrastructure.kafka_tls_probe import protocol_mismatch
from omnibase_infra.models.model_kafka_producer_config import (
    ModelKafkaProducerConfig,
    ModelKafkaSecurityConfig,
)

_log = logging.getLogger(__name__)


def build_kafka_ssl_context(security: ModelKafkaSecurityConfig) -> ssl.SSLContext | None:
    """The TLS context for SSL/SASL_SSL, or ``None`` for plaintext protocols."""
    if not security.security_protocol.endswith("SSL"):
        return None
    try:
        context = ssl.create_default_context(cafile=security.ssl_ca_file)
        if security.ssl_cert_file is not None:
            context.load_cert_chain(certfile=security.ssl_cert_file, keyfile=security.ssl_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            "KAFKA_SSL_CA_FILE/KAFKA_SSL_CERT_FILE",
            f"cannot load TLS files: {exc.strerror or type(exc).__name__}",
        ) from None
    context.check_hostname = security.ssl_check_hostname
    return context


def producer_settings(config: ModelKafkaProducerConfig, client_id: str) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer`` (and the shared part for ``create_conn``)."""
    security = config.security
    settings: dict[str, Any] = {
        "bootstrap_servers": config.bootstrap_servers,
        "client_id": client_id,
        "acks": "all" if config.acks in ("all", "-1") else int(config.acks),
        "enable_idempotence": config.enable_idempotence,
        "compression_type": None if config.compression_type == "none" else config.compression_type,
        "linger_ms": config.linger_ms,
        "max_batch_size": config.batch_size,
        "max_request_size": config.max_request_size,
        "request_timeout_ms": config.request_timeout_ms,
        "security_protocol": security.security_protocol,
        "ssl_context": build_kafka_ssl_context(security),
    }
    if security.security_protocol.startswith("SASL"):
        settings["sasl_mechanism"] = security.sasl_mechanism
        settings["sasl_plain_username"] = security.sasl_username
        settings["sasl_plain_password"] = (
            security.sasl_password.get_secret_value() if security.sasl_password is not None else None
        )
    return settings


class _MetadataWithTopicErrors(ClusterMetadata):  # type: ignore[misc]  # aiokafka is untyped
    """Cluster metadata that also keeps each listed topic's error code (aiokafka drops them)."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.topic_errors: dict[str, int] = {}

    def update_metadata(self, metadata: Any) -> None:
        for topic_data in metadata.topics:
            self.topic_errors[topic_data[1]] = topic_data[0]  # (error_code, topic, ...)
        super().update_metadata(metadata)


SIZE_CHECK_MARGIN = 512
"""Bytes of batch and record overhead a record's key, value and headers may need at most
beyond their own length; below ``max_request_size`` minus this, the exact size check is skipped."""


class _Batch:
    """``ProtocolRecordBatch`` over aiokafka's ``BatchBuilder`` (``AIOKafkaProducer.create_batch``)."""

    __slots__ = ("_max_request_size", "builder")

    def __init__(self, builder: Any, max_request_size: int) -> None:
        self.builder = builder
        self._max_request_size = max_request_size

    def append(self, key: bytes | None, value: bytes, headers: Sequence[Header]) -> bool:
        size = len(value) + (len(key) if key is not None else 0)
        if headers:
            size += sum(len(name.encode()) + len(data) for name, data in headers)  # bytes, not characters
        if size > self._max_request_size - SIZE_CHECK_MARGIN:
            # aiokafka's ``send`` makes the same check (``_serialize``); its batch API does not.
            exact = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers))
            if exact > self._max_request_size:
                raise kafka_errors.MessageSizeTooLargeError(
                    f"The message is {exact} bytes when serialized which is larger than "
                    "the maximum request size you have configured with the max_request_size configuration"
                )
        appended = self.builder.append(timestamp=None, key=key, value=value, headers=list(headers))
        return appended is not None


class AIOKafkaProducerAdapter:
    """One ``AIOKafkaProducer`` behind ``ProtocolKafkaProducer``."""

    def __init__(self, config: ModelKafkaProducerConfig, client_id: str) -> None:
        self._config = config
        self._settings = producer_settings(config, client_id)
        codec = config.compression_type
        if codec != "none" and not getattr(kafka_codec, f"has_{codec}")():
            raise ConfigurationError(
                "KAFKA_COMPRESSION_TYPE", f"codec {codec!r} needs a compression library that is not installed"
            )
        self._producer: Any = aiokafka.AIOKafkaProducer(**self._settings)
        self._closing: asyncio.Task[None] | None = None
        self._send_soon: set[str] = set()  # topics whose batches go at the next turn of the loop

    async def start(self) -> None:
        try:
            await self._producer.start()
        except asyncio.CancelledError:
            await asyncio.shield(self._stop_quietly())  # never leave a half-started client behind
            raise
        except Exception as exc:
            await self._stop_quietly()
            if isinstance(exc, kafka_errors.KafkaConnectionError):
                settings = self._settings
                await raise_if_rejected(
                    str(settings["bootstrap_servers"]),
                    self._config.security,
                    client_id=str(settings["client_id"]),
                    request_timeout_ms=int(settings["request_timeout_ms"]),
                    ssl_context=settings["ssl_context"],
                )
            raise

    async def stop(self) -> None:
        if self._closing is not None:
            await asyncio.gather(self._closing, return_exceptions=True)
            return
        await self._producer.stop()

    async def enqueue(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: Sequence[Header],
        partition: int | None,
    ) -> asyncio.Future[Ack]:
        delivery = await self._producer.send(
            topic, value=value, key=key, partition=partition, headers=list(headers)
        )
        ack: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()

        def _copy(done: asyncio.Future[Any]) -> None:
            # The failure is retrieved even when the ack is already settled (its caller gave up).
            error = None if done.cancelled() else done.exception()
            if ack.done():
                return
            if done.cancelled():
                ack.cancel()
            elif error is not None:
                ack.set_exception(error)
            else:
                metadata = done.result()
                ack.set_result((int(metadata.partition), int(metadata.offset)))

        delivery.add_done_callback(_copy)
        return ack

    async def partitioner(self, topic: str) -> Callable[[bytes | None], int]:
        producer = self._producer
        await producer.client._wait_on_metadata(topic)
        choose = producer._partition  # the configured partitioner (murmur2 by default), as ``send`` calls it

        def partition(key: bytes | None) -> int:
            return int(choose(topic, None, key, None, key, None))

        return partition

    def create_batch(self) -> _Batch:
        return _Batch(self._producer.create_batch(), self._config.max_request_size)

    async def send_batch(self, batch: ProtocolRecordBatch, topic: str, partition: int) -> asyncio.Future[int]:
        if not isinstance(batch, _Batch):  # pragma: no cover - a batch of another producer
            raise TypeError("send_batch takes a batch from this producer's create_batch")
        batch.builder.close()  # nothing else joins it, and it does not wait out linger_ms
        delivery = await self._producer.send_batch(batch.builder, topic, partition=partition)
        base: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def _copy(done: asyncio.Future[Any]) -> None:
            error = None if done.cancelled() else done.exception()
            if base.done():
                return
            if done.cancelled():
                base.cancel()
            elif error is not None:
                base.set_exception(error)
            else:
                base.set_result(int(done.result().offset))

        delivery.add_done_callback(_copy)
        return base

    def send_soon(self, topic: str) -> None:
        if not self._send_soon:
            asyncio.get_running_loop().call_soon(self._send_buffered)
        self._send_soon.add(topic)

    def _send_buffered(self) -> None:
        """Close the open batches of the topics asked for and wake the sender (no linger wait).

        aiokafka has no public "send now"; this is what its own ``flush_for_commit`` does
        to the accumulator, for the named topics only.
        """
        topics, self._send_soon = self._send_soon, set()
        accumulator = getattr(self._producer, "_message_accumulator", None)
        batches = getattr(accumulator, "_batches", None)
        if not isinstance(batches, Mapping):  # pragma: no cover - only if aiokafka's internals change
            _log.warning("aiokafka internals changed: replies wait for linger_ms")
            return
        for tp, queued in batches.items():
            if tp.topic in topics:
                for batch in queued:
                    batch._builder.close()
        waiter = getattr(accumulator, "_waiter_future", None)
        if isinstance(waiter, asyncio.Future) and not waiter.done():
            waiter.set_result(None)

    def abort(self, exc: BaseException) -> None:
        producer = self._producer
        # aiokafka has no public "abandon what is buffered": stop its sender task
        # first (so nothing more is drained), then fail every buffered batch.
        sender = getattr(producer, "_sender", None)
        task = getattr(sender, "sender_task", None)
        if task is not None and not task.done():
            task.cancel()
        accumulator = getattr(producer, "_message_accumulator", None)
        if accumulator is not None:
            batches = _buffered_batches(accumulator)
            accumulator.fail_all(exc)
            for batch in batches:
                # Nobody waits for an abandoned batch to drain: retrieve its failure, so that
                # asyncio does not report it as "Future exception was never retrieved".
                waiter = getattr(batch, "_drain_waiter", None)
                if isinstance(waiter, asyncio.Future) and waiter.done() and not waiter.cancelled():
                    waiter.exception()
        else:  # pragma: no cover - only if aiokafka's internals change
            _log.warning("aiokafka internals changed: abandoned records may still be delivered late")
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._stop_quietly())

    async def fetch_metadata(self) -> int:
        metadata = await self._producer.client.fetch_all_metadata()
        return len(metadata.brokers())

    async def has_topic(self, topic: str) -> bool:
        """True if listed without error; False only if absent (or UNKNOWN_TOPIC_OR_PARTITION).

        Any other topic-level error (LEADER_NOT_AVAILABLE while a fresh topic elects its
        leaders, an authorization failure, ...) raises the matching ``KafkaError``: the
        brokers could not say, which is an outage for the caller, never "no such topic".
        """
        client = self._producer.client
        if client.cluster.partitions_for_topic(topic):
            return True
        # A metadata request for all topics: one naming the topic would let a broker with
        # auto.create.topics.enable create it. aiokafka's fetch_all_metadata drops the
        # topic-level errors, so the same request is sent keeping them.
        metadata = _MetadataWithTopicErrors(metadata_max_age_ms=client._metadata_max_age_ms)
        if not await client._metadata_update(metadata, None):
            raise kafka_errors.KafkaError("Unable to get cluster metadata over all known brokers")
        code = metadata.topic_errors.get(topic)
        if code is None or code == kafka_errors.UnknownTopicOrPartitionError.errno:
            return False
        if code != kafka_errors.NoError.errno:
            raise kafka_errors.for_code(code)(f"topic {topic}")
        return bool(metadata.partitions_for_topic(topic))

    async def _stop_quietly(self) -> None:
        try:
            await self._producer.stop()
        except Exception:
            _log.debug("stopping an aborted producer failed", exc_info=True)


async def raise_if_rejected(
    bootstrap_servers: str,
    security: ModelKafkaSecurityConfig,
    *,
    client_id: str,
    request_timeout_ms: int,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Open one connection per bootstrap server until one works; raise ``ConfigurationError`` if refused.

    Called after a client failed to bootstrap: a broker that rejects the credentials or whose
    certificate is not trusted raises ``rejection_error``'s ``ConfigurationError`` (from the
    client's error), and so does a listener that speaks the other protocol (TLS or plain, see
    ``kafka_tls_probe``); a broker that is merely unreachable returns, leaving the outage to the
    caller.
    """
    context = ssl_context if ssl_context is not None else build_kafka_ssl_context(security)
    password = security.sasl_password.get_secret_value() if security.sasl_password is not None else None
    for server in bootstrap_servers.split(","):
        address = server.strip().split("://", 1)[-1]
        host, _, port = address.rpartition(":")
        try:
            conn = await create_conn(
                host.strip("[]"),
                int(port),
                client_id=client_id,
                request_timeout_ms=request_timeout_ms,
                ssl_context=context,
                security_protocol=security.security_protocol,
                sasl_mechanism=security.sasl_mechanism or "PLAIN",
                sasl_plain_username=security.sasl_username,
                sasl_plain_password=password,
            )
        except Exception as exc:
            if is_authentication_failure(exc):
                raise rejection_error(exc, security, address) from exc
            mismatch = await protocol_mismatch(security.security_protocol, address)
            if mismatch is not None:
                raise mismatch from exc
            continue
        conn.close()
        return


def _buffered_batches(accumulator: object) -> list[object]:
    """The batches aiokafka's accumulator holds (by partition, and pending), for ``abort``."""
    by_partition = getattr(accumulator, "_batches", {})
    pending = getattr(accumulator, "_pending_batches", ())
    return [batch for batches in by_partition.values() for batch in batches] + list(pending)


def default_producer_factory(config: ModelKafkaProducerConfig, client_id: str) -> AIOKafkaProducerAdapter:
    """The pool's default factory: an aiokafka producer."""
    return AIOKafkaProducerAdapter(config, client_id)


__all__ = [
    "AIOKafkaProducerAdapter",
    "build_kafka_ssl_context",
    "default_producer_factory",
    "producer_settings",
    "raise_if_rejected",
]
