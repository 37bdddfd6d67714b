"""The aiokafka adapter: settings mapping and the diagnosis of rejected credentials (no broker needed)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiokafka
import aiokafka.errors as kafka_errors
import pytest
from aiokafka import codec as kafka_codec
from pydantic import SecretStr

from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure import kafka_producer_adapter
from omnibase_infra.infrastructure.kafka_producer_adapter import AIOKafkaProducerAdapter, producer_settings
from omnibase_infra.models.model_kafka_producer_config import (
    ModelKafkaProducerConfig,
    ModelKafkaSecurityConfig,
)

SASL = ModelKafkaSecurityConfig(
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="svc",
    sasl_password=SecretStr("pw"),
)
CONFIG = ModelKafkaProducerConfig(
    bootstrap_servers="127.0.0.1:1,127.0.0.1:2",
    acks="all",
    compression_type="gzip",
    linger_ms=7,
    batch_size=32768,
    request_timeout_ms=5000,
    security=SASL,
)


def test_settings_follow_the_config() -> None:
    settings = producer_settings(CONFIG, "client-1")
    assert settings["acks"] == "all"
    assert settings["enable_idempotence"] is True
    assert settings["compression_type"] == "gzip"
    assert (settings["linger_ms"], settings["max_batch_size"], settings["request_timeout_ms"]) == (
        7,
        32768,
        5000,
    )
    assert (settings["security_protocol"], settings["sasl_mechanism"]) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert (settings["sasl_plain_username"], settings["sasl_plain_password"]) == ("svc", "pw")
    assert settings["ssl_context"] is None
    plain = producer_settings(
        ModelKafkaProducerConfig(
            bootstrap_servers="b:9092", acks="1", enable_idempotence=False, compression_type="none"
        ),
        "c",
    )
    assert (plain["acks"], plain["compression_type"]) == (1, None)
    assert "sasl_plain_password" not in plain


def test_ssl_protocols_get_a_verifying_context() -> None:
    secure = CONFIG.model_copy(update={"security": ModelKafkaSecurityConfig(security_protocol="SSL")})
    context = producer_settings(secure, "c")["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


async def test_rejected_credentials_surface_as_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse_bootstrap(self: Any) -> None:
        raise kafka_errors.KafkaConnectionError("Unable to bootstrap from [...]")

    async def reject_login(*args: Any, **kwargs: Any) -> Any:
        raise kafka_errors.SaslAuthenticationFailed(
            "Authentication failed during authentication due to invalid credentials"
        )

    monkeypatch.setattr(aiokafka.AIOKafkaProducer, "start", refuse_bootstrap)
    monkeypatch.setattr(kafka_producer_adapter, "create_conn", reject_login)
    adapter = AIOKafkaProducerAdapter(CONFIG, "c")
    with pytest.raises(ConfigurationError) as raised:
        await adapter.start()
    assert "rejected" in str(raised.value)
    assert "pw" not in str(raised.value).replace("KAFKA_SASL_PASSWORD", "")


async def test_an_unreachable_broker_stays_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse_bootstrap(self: Any) -> None:
        raise kafka_errors.KafkaConnectionError("Unable to bootstrap from [...]")

    async def refuse_connection(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError(111, "refused")

    monkeypatch.setattr(aiokafka.AIOKafkaProducer, "start", refuse_bootstrap)
    monkeypatch.setattr(kafka_producer_adapter, "create_conn", refuse_connection)
    adapter = AIOKafkaProducerAdapter(CONFIG, "c")
    with pytest.raises(kafka_errors.KafkaConnectionError):
        await adapter.start()


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_every_codec_is_installed(codec: str) -> None:
    # pyproject installs aiokafka with its lz4, snappy and zstd extras: records compressed with
    # any codec can be read, and any codec can be chosen in a contract.
    assert getattr(kafka_codec, f"has_{codec}")()
    adapter = AIOKafkaProducerAdapter(CONFIG.model_copy(update={"compression_type": codec}), "c")
    assert adapter._settings["compression_type"] == codec


async def test_an_unavailable_codec_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_codec, "has_zstd", lambda: False)
    with pytest.raises(ConfigurationError) as raised:
        AIOKafkaProducerAdapter(CONFIG.model_copy(update={"compression_type": "zstd"}), "c")
    assert raised.value.variable == "KAFKA_COMPRESSION_TYPE"
    assert "'zstd'" in raised.value.reason


TopicData = tuple[int, str, bool, list[tuple[int, int, int, list[int], list[int]]]]


class _MetadataResponse:
    """A version-1 MetadataResponse: one broker; topics as ``(error_code, name, internal, partitions)``."""

    API_VERSION = 1
    controller_id = 1
    brokers = [(1, "localhost", 9092, None)]

    def __init__(
        self, *topics: tuple[int, str, bool, list[tuple[int, int, int, list[int], list[int]]]]
    ) -> None:
        self.topics = list(topics)


class _MetadataClient:
    """The slice of aiokafka's client ``has_topic`` uses; answers every metadata request with ``response``."""

    def __init__(self, response: _MetadataResponse) -> None:
        self.response = response
        self.cluster = aiokafka.cluster.ClusterMetadata()
        self._metadata_max_age_ms = 300000

    async def _metadata_update(self, cluster: Any, topics: object) -> bool:
        assert topics is None, "a request naming the topic could auto-create it"
        cluster.update_metadata(self.response)
        return True

    async def fetch_all_metadata(self) -> Any:  # as aiokafka does it: the topic errors are dropped
        cluster = aiokafka.cluster.ClusterMetadata()
        await self._metadata_update(cluster, None)
        return cluster


class _ProducerWithClient:
    def __init__(self, client: _MetadataClient) -> None:
        self.client = client


def _adapter_answering(
    *topics: tuple[int, str, bool, list[tuple[int, int, int, list[int], list[int]]]],
) -> Any:
    adapter = AIOKafkaProducerAdapter(CONFIG, "test")
    adapter._producer = _ProducerWithClient(_MetadataClient(_MetadataResponse(*topics)))
    return adapter


async def test_has_topic_answers_false_only_for_a_topic_the_brokers_do_not_list() -> None:
    adapter = _adapter_answering((0, "onex.evt.here.v1", False, [(0, 0, 1, [1], [1])]))
    assert await adapter.has_topic("onex.evt.here.v1") is True
    assert await adapter.has_topic("onex.evt.missing.v1") is False
    unknown = kafka_errors.UnknownTopicOrPartitionError.errno
    assert (
        await _adapter_answering((unknown, "onex.evt.gone.v1", False, [])).has_topic("onex.evt.gone.v1")
        is False
    )


@pytest.mark.parametrize(
    "error", [kafka_errors.LeaderNotAvailableError, kafka_errors.TopicAuthorizationFailedError]
)
async def test_has_topic_raises_for_any_other_topic_error_so_the_caller_waits(error: type[Exception]) -> None:
    adapter = _adapter_answering((error.errno, "onex.evt.fresh.v1", False, []))  # type: ignore[attr-defined]
    with pytest.raises(error):
        await adapter.has_topic("onex.evt.fresh.v1")


async def test_send_soon_closes_the_open_batches_of_that_topic_and_wakes_the_sender() -> None:
    from aiokafka.structs import TopicPartition

    adapter = AIOKafkaProducerAdapter(CONFIG.model_copy(update={"linger_ms": 10_000}), "test")
    accumulator = adapter._producer._message_accumulator
    replies, events = TopicPartition("replies", 0), TopicPartition("events", 0)
    for tp in (replies, events):
        await accumulator.add_message(tp, None, b"v", timeout=1)
    accumulator._waiter_future = asyncio.get_running_loop().create_future()  # the sender waits

    adapter.send_soon("replies")
    adapter.send_soon("replies")
    assert not accumulator._batches[replies][0]._builder.closed(), "not before the loop turns"
    await asyncio.sleep(0)

    assert accumulator._batches[replies][0].remaining_linger() is None, "ready: no linger left"
    assert accumulator._batches[events][0].remaining_linger() is not None, "another topic still lingers"
    assert accumulator._waiter_future.done(), "the sender is woken"
    await adapter._producer.client.close()


def test_a_batch_refuses_a_record_whose_header_names_are_large_in_utf8_bytes() -> None:
    # 300 bytes of value and a header name of 200 four-byte characters: 500 characters, but
    # over 1,100 bytes serialised; the batch must refuse it as ``send`` would, not queue it.
    from aiokafka.producer.message_accumulator import BatchBuilder

    batch = kafka_producer_adapter._Batch(BatchBuilder(1 << 16, 0), max_request_size=1024)
    with pytest.raises(kafka_errors.MessageSizeTooLargeError):
        batch.append(b"k", b"v" * 300, [("\U0001f600" * 200, b"")])
    assert batch.append(b"k", b"v" * 300, [("h" * 200, b"")])
