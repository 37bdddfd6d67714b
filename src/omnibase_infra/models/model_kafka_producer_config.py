"""Kafka producer settings (the seed's names) and the security settings of the client."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

KafkaAcks = Literal["all", "0", "1", "-1"]
KafkaCompression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class ModelKafkaSecurityConfig(BaseModel):
    """How the client authenticates to the brokers. The password never appears in repr or logs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    sasl_mechanism: KafkaSaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: str | None = None
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None
    ssl_check_hostname: bool = True

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> ModelKafkaSecurityConfig:
        if self.security_protocol.startswith("SASL") and (
            self.sasl_mechanism is None or self.sasl_username is None or self.sasl_password is None
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, "
                "sasl_username and sasl_password"
            )
        return self


class ModelKafkaProducerTuning(BaseModel):
    """Producer tuning without servers and security; defaults are the seed's production values.

    The one definition of these fields and their rules: the full ``ModelKafkaProducerConfig``
    and a contract's per-environment ``kafka_producer`` settings both extend it. Every field
    is used: the client settings are passed to aiokafka (``producer_settings``), the pool
    reads ``client_id``, the pool sizes and ``delivery_timeout_ms``. The original guide's
    ``retries``, ``buffer_memory`` and ``max_in_flight_requests_per_connection`` have no
    aiokafka counterpart (see ``kafka_producer_adapter``), so they are not accepted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(default="omnibase-infra", min_length=1)
    acks: KafkaAcks = "all"
    batch_size: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    linger_ms: int = Field(default=10, ge=0, le=10_000)
    compression_type: KafkaCompression = "none"
    max_request_size: int = Field(default=1048576, ge=1024, le=100 * 1024 * 1024)
    enable_idempotence: bool = True
    request_timeout_ms: int = Field(default=30000, ge=1000, le=600_000)
    delivery_timeout_ms: int = Field(default=120000, ge=1000, le=3_600_000)
    min_pool_size: int = Field(default=1, ge=1, le=64)
    max_pool_size: int = Field(default=4, ge=1, le=64)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.min_pool_size > self.max_pool_size:
            raise ValueError("min_pool_size must not exceed max_pool_size")
        if self.enable_idempotence and self.acks not in ("all", "-1"):
            raise ValueError("enable_idempotence requires acks='all'")
        if self.delivery_timeout_ms < self.request_timeout_ms:
            raise ValueError("delivery_timeout_ms must be >= request_timeout_ms")
        return self


class ModelKafkaProducerConfig(ModelKafkaProducerTuning):
    """Producer settings: the tuning plus where the brokers are and how to authenticate."""

    bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port...]")
    security: ModelKafkaSecurityConfig = ModelKafkaSecurityConfig()


__all__ = [
    "KafkaAcks",
    "KafkaCompression",
    "KafkaSaslMechanism",
    "KafkaSecurityProtocol",
    "ModelKafkaProducerConfig",
    "ModelKafkaProducerTuning",
    "ModelKafkaSecurityConfig",
]
