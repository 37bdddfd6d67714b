"""The environment variables ``load_settings`` reads, as data: name, default, meaning, secrecy.

``onex-infra env check`` walks this table to print one line per variable and attaches
the meaning as the hint of a problem. The table describes ``settings.load_settings``; it
does not replace it (parsing and validation stay there).
"""

from __future__ import annotations

from dataclasses import dataclass

from omnibase_infra.environment import ENVIRONMENT_VARIABLES


@dataclass(frozen=True)
class EnvVariable:
    name: str
    default: str | None
    meaning: str
    required: bool = False
    secret: bool = False
    group: str = "service"

    @property
    def file_variant(self) -> str | None:
        """``<NAME>_FILE`` for secrets, which may be read from a file instead."""
        return f"{self.name}_FILE" if self.secret else None


_LOCAL = 'locally: eval "$(scripts/services env)"'

VARIABLES: tuple[EnvVariable, ...] = (
    EnvVariable(
        "ENVIRONMENT",
        "development",
        "production|staging|development (aliases prod, stage, dev, ...; also read from "
        + ", ".join(ENVIRONMENT_VARIABLES[1:])
        + ")",
        group="environment",
    ),
    EnvVariable("POSTGRES_HOST", None, f"PostgreSQL server host ({_LOCAL})", required=True, group="postgres"),
    EnvVariable("POSTGRES_PORT", "5432", "PostgreSQL server port, 1-65535", group="postgres"),
    EnvVariable("POSTGRES_DATABASE", None, "database holding the service's tables", True, group="postgres"),
    EnvVariable("POSTGRES_USER", None, "role the service logs in as", required=True, group="postgres"),
    EnvVariable(
        "POSTGRES_PASSWORD",
        None,
        "password of POSTGRES_USER (or POSTGRES_PASSWORD_FILE)",
        secret=True,
        group="postgres",
    ),
    EnvVariable(
        "POSTGRES_SCHEMA", "public", "schema of the service's tables (a plain identifier)", group="postgres"
    ),
    EnvVariable(
        "POSTGRES_MIN_CONNECTIONS",
        "2",
        "pool minimum (the contract's per-environment pool applies)",
        group="postgres",
    ),
    EnvVariable(
        "POSTGRES_MAX_CONNECTIONS", "10", "pool maximum, >= POSTGRES_MIN_CONNECTIONS", group="postgres"
    ),
    EnvVariable("POSTGRES_COMMAND_TIMEOUT", "30", "statement timeout in seconds", group="postgres"),
    EnvVariable(
        "POSTGRES_SSL_MODE", "disable", "disable|allow|prefer|require|verify-ca|verify-full", group="postgres"
    ),
    EnvVariable(
        "POSTGRES_SSL_CA_FILE", None, "CA bundle (needed by verify-ca/verify-full)", group="postgres"
    ),
    EnvVariable(
        "POSTGRES_SSL_CERT_FILE", None, "client certificate (with POSTGRES_SSL_KEY_FILE)", group="postgres"
    ),
    EnvVariable("POSTGRES_SSL_KEY_FILE", None, "client key (with POSTGRES_SSL_CERT_FILE)", group="postgres"),
    EnvVariable(
        "KAFKA_BOOTSTRAP_SERVERS",
        None,
        f"host:port[,host:port...] of the brokers ({_LOCAL})",
        True,
        group="kafka",
    ),
    EnvVariable(
        "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL", group="kafka"
    ),
    EnvVariable(
        "KAFKA_SASL_MECHANISM", None, "PLAIN|SCRAM-SHA-256|SCRAM-SHA-512 (SASL_* protocols)", group="kafka"
    ),
    EnvVariable("KAFKA_SASL_USERNAME", None, "SASL user (SASL_* protocols)", group="kafka"),
    EnvVariable(
        "KAFKA_SASL_PASSWORD", None, "SASL password (or KAFKA_SASL_PASSWORD_FILE)", secret=True, group="kafka"
    ),
    EnvVariable("KAFKA_SSL_CA_FILE", None, "CA bundle for SSL/SASL_SSL", group="kafka"),
    EnvVariable("KAFKA_SSL_CERT_FILE", None, "client certificate for SSL", group="kafka"),
    EnvVariable("KAFKA_SSL_KEY_FILE", None, "client key for SSL", group="kafka"),
    EnvVariable(
        "KAFKA_SSL_CHECK_HOSTNAME", "true", "verify the broker's host name: true|false", group="kafka"
    ),
    EnvVariable("KAFKA_CONSUMER_GROUP", "omnibase-infra", "consumer group of the service", group="kafka"),
    EnvVariable(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        None,
        "OTLP collector base URL (http/protobuf: :4318, /v1/traces appended; grpc: :4317); unset: no export",
        group="telemetry",
    ),
    EnvVariable(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        None,
        "OTLP traces URL, used as is; wins over OTEL_EXPORTER_OTLP_ENDPOINT",
        group="telemetry",
    ),
    EnvVariable("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "http/protobuf or grpc", group="telemetry"),
    EnvVariable(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        None,
        "http/protobuf or grpc; wins over OTEL_EXPORTER_OTLP_PROTOCOL",
        group="telemetry",
    ),
    EnvVariable(
        "OTEL_EXPORTER_OTLP_HEADERS",
        None,
        "headers of every OTLP request: key=value,key=value (or OTEL_EXPORTER_OTLP_HEADERS_FILE)",
        secret=True,
        group="telemetry",
    ),
    EnvVariable(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        None,
        "OTLP headers of traces; replaces OTEL_EXPORTER_OTLP_HEADERS",
        secret=True,
        group="telemetry",
    ),
    EnvVariable(
        "OTEL_TRACES_SAMPLER",
        None,
        "always_on|always_off|traceidratio|parentbased_*; unset: OTEL_TRACE_SAMPLE_RATE's sampler",
        group="telemetry",
    ),
    EnvVariable(
        "OTEL_TRACES_SAMPLER_ARG",
        None,
        "ratio 0.0-1.0 of the traceidratio samplers (default 1.0)",
        group="telemetry",
    ),
    EnvVariable(
        "OTEL_SERVICE_NAME", "omnibase_infrastructure", "service.name of exported spans", group="telemetry"
    ),
    EnvVariable(
        "OTEL_RESOURCE_ATTRIBUTES", None, "extra resource attributes: key=value,key=value", group="telemetry"
    ),
    EnvVariable(
        "OTEL_TRACE_SAMPLE_RATE",
        None,
        "0.0-1.0 when OTEL_TRACES_SAMPLER is unset; default per environment",
        group="telemetry",
    ),
    EnvVariable("HEALTH_CHECK_HOST", "0.0.0.0", "address the HTTP endpoints bind to"),
    EnvVariable("HEALTH_CHECK_PORT", "8080", "port of /health, /health/detailed, /ready, /metrics, /admin"),
    EnvVariable("PROMETHEUS_METRICS_PORT", "9090", "port of the metrics-only /metrics"),
    EnvVariable("HEALTH_CHECK_INTERVAL", "30", "seconds between health samples (0 < s <= 3600)"),
    EnvVariable(
        "ONEX_ADMIN_TOKEN",
        None,
        "bearer token of POST /admin/breakers/{name}/reset; unset: no admin",
        secret=True,
    ),
    EnvVariable("ONEX_EVENT_STORE_TOPICS", None, "comma-separated topics to store (default: the contract's)"),
    EnvVariable("ONEX_COMMAND_TOPIC", None, "command topic (default: the contract's onex.cmd.* topic)"),
    EnvVariable("ONEX_OPERATION_COMPLETED_TOPIC", None, "reply topic of completed operations"),
    EnvVariable("ONEX_OPERATION_FAILED_TOPIC", None, "reply topic of failed operations"),
    EnvVariable("ONEX_STATE_CHANGED_TOPIC", None, "topic of infrastructure state changes"),
    EnvVariable("ONEX_OUTBOX_TOPICS", None, "comma-separated topics the outbox relay may publish to"),
    EnvVariable("ONEX_CONTRACTS_PATH", None, "comma-separated extra contract files or folders"),
    EnvVariable("ONEX_CONFIG_FILE", None, "configuration overlay: contract values per node and environment"),
    EnvVariable("ONEX_BATCH_SIZE", None, "records per consumed batch (wins over the contract's batching)"),
    EnvVariable("ONEX_SHUTDOWN_GRACE_SECONDS", None, "bound of each shutdown step (wins over the contract)"),
    EnvVariable("ONEX_BREAKER_FAILURE_THRESHOLD", None, "outages that open each breaker"),
    EnvVariable("ONEX_BREAKER_RECOVERY_TIMEOUT", None, "seconds each breaker stays open"),
    EnvVariable("ONEX_STARTUP_TIMEOUT", "120", "seconds `run` waits for PostgreSQL and Kafka at startup"),
    EnvVariable("LOG_LEVEL", "INFO", "DEBUG|INFO|WARNING|ERROR"),
)

BY_NAME: dict[str, EnvVariable] = {v.name: v for v in VARIABLES}


def problem_variables(problem_name: str) -> list[str]:
    """The variables a problem names: ``"A, B"`` and ``"A/B"`` (cross-field rules) name two."""
    return [part.strip() for part in problem_name.replace("/", ",").split(",") if part.strip()]


def variable_for(problem_name: str) -> EnvVariable | None:
    """The catalogued variable a problem names first (``POSTGRES_PASSWORD_FILE`` → POSTGRES_PASSWORD)."""
    names = problem_variables(problem_name)
    if len(names) > 1:
        return next((v for v in map(variable_for, names) if v is not None), None)
    if problem_name in BY_NAME:
        return BY_NAME[problem_name]
    if problem_name.endswith("_FILE") and problem_name[: -len("_FILE")] in BY_NAME:
        return BY_NAME[problem_name[: -len("_FILE")]]
    if problem_name in ENVIRONMENT_VARIABLES:
        return BY_NAME["ENVIRONMENT"]
    return None


__all__ = ["BY_NAME", "VARIABLES", "EnvVariable", "problem_variables", "variable_for"]
