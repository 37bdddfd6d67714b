"""Service settings read from the environment (README.md, Configuration; docs/configuration.md).

Every variable is parsed here, once. A missing or malformed value raises
``ConfigurationError`` naming the variable; all problems are reported together.
Secrets may come from ``<NAME>_FILE`` (a file holding the value) instead of
``<NAME>``; they are kept as ``SecretStr`` and never rendered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from omnibase_infra.environment import EnumEnvironment, detect_environment
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

T = TypeVar("T")


OtlpProtocol = Literal["http/protobuf", "grpc"]
"""The OTLP transports the service exports spans with (``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL``)."""

TracesSampler = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]
"""The OpenTelemetry specification's ``OTEL_TRACES_SAMPLER`` values the SDK implements."""


class ModelTelemetrySettings(BaseModel):
    """The ``OTEL_*`` variables, per-signal (``_TRACES_``) values already resolved over general ones.

    ``otlp_headers`` is the raw ``key=value,key=value`` list (often a credential, so secret).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    otlp_endpoint: str | None = None
    otlp_traces_endpoint: str | None = None
    otlp_protocol: OtlpProtocol = "http/protobuf"
    otlp_headers: SecretStr | None = None
    service_name: str = "omnibase_infrastructure"
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    traces_sampler: TracesSampler | None = None
    traces_sampler_arg: float | None = Field(default=None, ge=0.0, le=1.0)
    trace_sample_rate: float | None = Field(default=None, ge=0.0, le=1.0)


class ModelInfraSettings(BaseModel):
    """Everything the service reads from its environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: EnumEnvironment
    postgres: ModelPostgresConnectionConfig
    kafka_bootstrap_servers: str
    kafka_security: ModelKafkaSecurityConfig
    kafka_consumer_group: str = "omnibase-infra"
    telemetry: ModelTelemetrySettings = ModelTelemetrySettings()
    http_host: str = "0.0.0.0"
    health_check_port: int = Field(default=8080, ge=0, le=65535)
    prometheus_metrics_port: int = Field(default=9090, ge=0, le=65535)
    health_check_interval: float = Field(default=30.0, gt=0, le=3600)
    event_store_topics: tuple[str, ...] | None = None
    command_topic: str | None = None
    operation_completed_topic: str | None = None
    operation_failed_topic: str | None = None
    state_changed_topic: str | None = None
    outbox_topics: tuple[str, ...] | None = None
    extra_contract_paths: tuple[str, ...] = ()
    admin_token: SecretStr | None = None
    log_level: str = "INFO"
    startup_timeout: float = Field(default=120.0, gt=0, le=3600)


class _Reader:
    """Reads variables and collects every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[tuple[str, str]] = []

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            if required and default is None:
                self.problems.append((name, "is required but not set"))
            return default
        return value.strip()

    def secret(self, name: str) -> SecretStr | None:
        file_name = f"{name}_FILE"
        path = self.environ.get(file_name)
        if path:
            try:
                return SecretStr(Path(path).read_text(encoding="utf-8").rstrip("\r\n"))
            except OSError as exc:
                self.problems.append((file_name, f"cannot read secret file: {exc.strerror}"))
                return None
        value = self.environ.get(name)
        return SecretStr(value) if value else None

    def parsed(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.problems.append((name, f"{raw!r} is not {expected}"))
            return default

    def raise_if_any(self) -> None:
        if len(self.problems) == 1:
            ((name, reason),) = self.problems
            raise ConfigurationError(name, reason)
        if self.problems:
            names = ", ".join(name for name, _ in self.problems)
            reasons = "; ".join(f"{name}: {reason}" for name, reason in self.problems)
            raise ConfigurationError(names, reasons, self.problems)


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError(raw)
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _csv(raw: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not items:
        raise ValueError(raw)
    return items


def _attributes(raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(raw)
        pairs[key.strip()] = value.strip()
    return pairs


def load_settings(environ: Mapping[str, str] | None = None) -> ModelInfraSettings:
    """Read and validate the environment; raise ``ConfigurationError`` naming every bad variable."""
    from omnibase_infra.infrastructure.vault_overlay import overlay_vault_credentials

    # With VAULT_ADDR set, the PostgreSQL/Kafka credentials come from the credential store.
    env = overlay_vault_credentials(os.environ if environ is None else environ)
    r = _Reader(env)
    try:
        environment = detect_environment(env)
    except ConfigurationError as exc:
        r.problems.append((exc.variable, exc.reason))
        environment = EnumEnvironment.DEVELOPMENT

    pg_fields = _postgres_fields(r)
    kafka_security_fields = _kafka_security_fields(r)
    bootstrap = r.text("KAFKA_BOOTSTRAP_SERVERS", required=True)
    no_paths: tuple[str, ...] = ()
    telemetry_fields = _telemetry_fields(r)
    others = {
        "kafka_consumer_group": r.text("KAFKA_CONSUMER_GROUP", "omnibase-infra"),
        "http_host": r.text("HEALTH_CHECK_HOST", "0.0.0.0"),
        "health_check_port": r.parsed("HEALTH_CHECK_PORT", 8080, _port, "a port number"),
        "prometheus_metrics_port": r.parsed("PROMETHEUS_METRICS_PORT", 9090, _port, "a port number"),
        "health_check_interval": r.parsed("HEALTH_CHECK_INTERVAL", 30.0, float, "a number of seconds"),
        "event_store_topics": r.parsed("ONEX_EVENT_STORE_TOPICS", None, _csv, "a comma-separated list"),
        "command_topic": r.text("ONEX_COMMAND_TOPIC"),
        "operation_completed_topic": r.text("ONEX_OPERATION_COMPLETED_TOPIC"),
        "operation_failed_topic": r.text("ONEX_OPERATION_FAILED_TOPIC"),
        "state_changed_topic": r.text("ONEX_STATE_CHANGED_TOPIC"),
        "outbox_topics": r.parsed("ONEX_OUTBOX_TOPICS", None, _csv, "a comma-separated list"),
        "extra_contract_paths": r.parsed("ONEX_CONTRACTS_PATH", no_paths, _csv, "a comma-separated list"),
        "admin_token": r.secret("ONEX_ADMIN_TOKEN"),
        "log_level": r.text("LOG_LEVEL", "INFO"),
        "startup_timeout": r.parsed("ONEX_STARTUP_TIMEOUT", 120.0, float, "a number of seconds"),
    }
    r.raise_if_any()

    try:
        return ModelInfraSettings.model_validate(
            {
                "environment": environment,
                "postgres": pg_fields,
                "kafka_bootstrap_servers": bootstrap,
                "kafka_security": kafka_security_fields,
                "telemetry": telemetry_fields,
                **others,
            }
        )
    except ValidationError as exc:
        r.problems.extend(_variable_problems(exc))
        r.raise_if_any()
        raise  # unreachable: raise_if_any raised


def load_kafka_connection(environ: Mapping[str, str] | None = None) -> tuple[str, ModelKafkaSecurityConfig]:
    """``KAFKA_BOOTSTRAP_SERVERS`` and the ``KAFKA_*`` security settings alone.

    For tools that talk to the brokers only (``onex-infra dlq``); validated exactly as
    ``load_settings`` validates them, raising ``ConfigurationError`` naming every bad variable.
    """
    from omnibase_infra.infrastructure.vault_overlay import overlay_vault_credentials

    r = _Reader(overlay_vault_credentials(os.environ if environ is None else environ))
    fields = _kafka_security_fields(r)
    bootstrap = r.text("KAFKA_BOOTSTRAP_SERVERS", required=True)
    r.raise_if_any()
    try:
        security = ModelKafkaSecurityConfig.model_validate(fields)
    except ValidationError as exc:
        r.problems.extend(_variable_problems(exc, ("kafka_security",)))
        r.raise_if_any()
        raise  # unreachable: raise_if_any raised
    assert bootstrap is not None  # required: raise_if_any raised otherwise
    return bootstrap, security


def load_postgres_connection(environ: Mapping[str, str] | None = None) -> ModelPostgresConnectionConfig:
    """The ``POSTGRES_*`` settings alone, for tools that talk to the database only (``onex-infra db``).

    Validated exactly as ``load_settings`` validates them; raises ``ConfigurationError``
    naming every bad variable. Kafka variables are neither needed nor read.
    """
    from omnibase_infra.infrastructure.vault_overlay import overlay_vault_credentials

    r = _Reader(overlay_vault_credentials(os.environ if environ is None else environ))
    fields = _postgres_fields(r)
    r.raise_if_any()
    try:
        return ModelPostgresConnectionConfig.model_validate(fields)
    except ValidationError as exc:
        r.problems.extend(_variable_problems(exc, ("postgres",)))
        r.raise_if_any()
        raise  # unreachable: raise_if_any raised


class ModelTuningVariables(BaseModel):
    """Contract values the environment sets, and the configuration overlay file.

    ``values`` holds only the variables that are set (name -> value); each wins over the
    overlay and the contracts for the environment the service runs in
    (``contract_validation.effective_config.OVERRIDE_VARIABLES`` says which key each sets).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    config_file: str | None = None
    values: dict[str, int | float] = Field(default_factory=dict)


def load_tuning_variables(environ: Mapping[str, str] | None = None) -> ModelTuningVariables:
    """``ONEX_CONFIG_FILE`` and the contract-value variables; ``ConfigurationError`` naming a malformed one.

    Read apart from ``load_settings`` so that ``config show`` and ``contracts check`` need
    no server settings; ranges are checked against the contract models when applied.
    """
    r = _Reader(os.environ if environ is None else environ)
    values: dict[str, int | float | None] = {
        "POSTGRES_MIN_CONNECTIONS": r.parsed("POSTGRES_MIN_CONNECTIONS", None, int, "an integer"),
        "POSTGRES_MAX_CONNECTIONS": r.parsed("POSTGRES_MAX_CONNECTIONS", None, int, "an integer"),
        "POSTGRES_COMMAND_TIMEOUT": r.parsed("POSTGRES_COMMAND_TIMEOUT", None, float, "a number"),
        "ONEX_BATCH_SIZE": r.parsed("ONEX_BATCH_SIZE", None, int, "an integer"),
        "ONEX_SHUTDOWN_GRACE_SECONDS": r.parsed("ONEX_SHUTDOWN_GRACE_SECONDS", None, int, "an integer"),
        "ONEX_BREAKER_FAILURE_THRESHOLD": r.parsed("ONEX_BREAKER_FAILURE_THRESHOLD", None, int, "an integer"),
        "ONEX_BREAKER_RECOVERY_TIMEOUT": r.parsed("ONEX_BREAKER_RECOVERY_TIMEOUT", None, int, "an integer"),
    }
    config_file = r.text("ONEX_CONFIG_FILE")
    r.raise_if_any()
    return ModelTuningVariables(
        config_file=config_file, values={name: v for name, v in values.items() if v is not None}
    )


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in choices:
            raise ValueError(raw)
        return raw.lower()

    return parse


def _checked_headers(r: _Reader, name: str, value: SecretStr | None) -> SecretStr | None:
    """A ``key=value,key=value`` secret, checked with the SDK's own parser; never echoed in a problem."""
    if value is None:
        return None
    from opentelemetry.util.re import parse_env_headers

    raw = value.get_secret_value()
    pairs = [item for item in raw.split(",") if item.strip()]
    if len(parse_env_headers(raw, liberal=True)) != len(pairs):
        r.problems.append((name, "is not a list of key=value pairs (value hidden)"))
        return None
    return value


def _telemetry_fields(r: _Reader) -> dict[str, object]:
    """The ``OTEL_*`` values; a per-signal ``OTEL_EXPORTER_OTLP_TRACES_*`` wins over the general one."""
    protocols: tuple[str, ...] = get_args(OtlpProtocol)
    samplers: tuple[str, ...] = get_args(TracesSampler)
    no_attributes: dict[str, str] = {}
    protocol_choice = _choice(protocols)
    protocol = r.parsed("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", None, protocol_choice, " or ".join(protocols))
    general_protocol = r.parsed("OTEL_EXPORTER_OTLP_PROTOCOL", None, protocol_choice, " or ".join(protocols))
    traces_name, general_name = "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"
    headers = _checked_headers(r, traces_name, r.secret("OTEL_EXPORTER_OTLP_TRACES_HEADERS"))
    general_headers = _checked_headers(r, general_name, r.secret("OTEL_EXPORTER_OTLP_HEADERS"))
    return {
        "otlp_endpoint": r.text("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "otlp_traces_endpoint": r.text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        "otlp_protocol": protocol or general_protocol or "http/protobuf",
        "otlp_headers": headers or general_headers,
        "service_name": r.text("OTEL_SERVICE_NAME", "omnibase_infrastructure"),
        "resource_attributes": r.parsed(
            "OTEL_RESOURCE_ATTRIBUTES", no_attributes, _attributes, "a list of key=value pairs"
        ),
        "traces_sampler": r.parsed(
            "OTEL_TRACES_SAMPLER", None, _choice(samplers), "one of " + ", ".join(samplers)
        ),
        "traces_sampler_arg": r.parsed("OTEL_TRACES_SAMPLER_ARG", None, float, "a number"),
        "trace_sample_rate": r.parsed("OTEL_TRACE_SAMPLE_RATE", None, float, "a number"),
    }


def _postgres_fields(r: _Reader) -> dict[str, object]:
    """The ``POSTGRES_*`` values that are set; unset ones are left out, so the model's
    ``model_fields_set`` says which values the operator chose (they win over the contract)."""
    fields: dict[str, object] = {
        "host": r.text("POSTGRES_HOST", required=True),
        "port": r.parsed("POSTGRES_PORT", 5432, _port, "a port number"),
        "database": r.text("POSTGRES_DATABASE", required=True),
        "user": r.text("POSTGRES_USER", required=True),
        "password": r.secret("POSTGRES_PASSWORD"),
        "schema_name": r.text("POSTGRES_SCHEMA", "public"),
        "min_connections": r.parsed("POSTGRES_MIN_CONNECTIONS", None, int, "an integer"),
        "max_connections": r.parsed("POSTGRES_MAX_CONNECTIONS", None, int, "an integer"),
        "command_timeout": r.parsed("POSTGRES_COMMAND_TIMEOUT", None, float, "a number"),
        "ssl_mode": r.text("POSTGRES_SSL_MODE", "disable"),
        "ssl_cert_file": r.text("POSTGRES_SSL_CERT_FILE"),
        "ssl_key_file": r.text("POSTGRES_SSL_KEY_FILE"),
        "ssl_ca_file": r.text("POSTGRES_SSL_CA_FILE"),
    }
    return {name: value for name, value in fields.items() if value is not None}


def _kafka_security_fields(r: _Reader) -> dict[str, object]:
    return {
        "security_protocol": r.text("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        "sasl_mechanism": r.text("KAFKA_SASL_MECHANISM"),
        "sasl_username": r.text("KAFKA_SASL_USERNAME"),
        "sasl_password": r.secret("KAFKA_SASL_PASSWORD"),
        "ssl_ca_file": r.text("KAFKA_SSL_CA_FILE"),
        "ssl_cert_file": r.text("KAFKA_SSL_CERT_FILE"),
        "ssl_key_file": r.text("KAFKA_SSL_KEY_FILE"),
        "ssl_check_hostname": r.parsed("KAFKA_SSL_CHECK_HOSTNAME", True, _bool, "true or false"),
    }


_VARIABLE_OF = {"postgres": "POSTGRES", "kafka_security": "KAFKA", "telemetry": "OTEL"}
# Fields whose variable is not <PREFIX>_<FIELD>.
_VARIABLE_OF_FIELD = {("postgres", "schema_name"): "POSTGRES_SCHEMA"}
# Cross-field rules are reported at the section; name the variables they involve instead.
_SECTION_RULES = (
    ("ssl_ca_file", "POSTGRES_SSL_CA_FILE", "postgres"),
    ("ssl_cert_file", "POSTGRES_SSL_CERT_FILE, POSTGRES_SSL_KEY_FILE", "postgres"),
    ("min_connections", "POSTGRES_MIN_CONNECTIONS, POSTGRES_MAX_CONNECTIONS", "postgres"),
    ("sasl_", "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD", "kafka_security"),
)


def _section_variable(section: str, message: str) -> str | None:
    for marker, variables, owner in _SECTION_RULES:
        if owner == section and marker in message:
            return variables
    return None


def _variable_problems(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(variable, reason) for each error of ``exc``; ``prefix`` is the model's place in the settings."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = [*prefix, *(str(p) for p in err["loc"])]
        head = _VARIABLE_OF.get(loc[0], loc[0].upper()) if loc else "settings"
        name = f"{head}_{'_'.join(loc[1:]).upper()}" if len(loc) > 1 else head
        name = _VARIABLE_OF_FIELD.get((loc[0], loc[1]), name) if len(loc) > 1 else name
        message = err["msg"].removeprefix("Value error, ")
        if len(loc) == 1:
            name = _section_variable(loc[0], message) or name
        problems.append((name, message))
    return problems


__all__ = [
    "ModelInfraSettings",
    "ModelTelemetrySettings",
    "ModelTuningVariables",
    "OtlpProtocol",
    "TracesSampler",
    "load_kafka_connection",
    "load_postgres_connection",
    "load_settings",
    "load_tuning_variables",
]
