"""Circuit-breaker configuration per environment, with the seed's values and ranges."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.environment import EnumEnvironment, parse_environment


class ModelCircuitBreakerConfig(BaseModel):
    """Thresholds and degradation policy of one circuit breaker.

    The four thresholds (and ``half_open_max_calls``) drive every breaker. The policy
    fields (``max_queue_size``, ``dead_letter_enabled``, ``graceful_degradation``) are read
    only by what a breaker guards that queues, parks or degrades: a node contract carries
    just the policy fields its breaker's users read (``node_rules.BREAKER_POLICY_KEYS``),
    and the defaults here (the seed's production values) fill the others.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_threshold: int = Field(ge=1, le=20, description="failures that open the circuit")
    recovery_timeout: int = Field(ge=5, le=300, description="seconds open before half-open")
    success_threshold: int = Field(ge=1, le=10, description="half-open successes that close it")
    timeout_seconds: int = Field(ge=5, le=120, description="deadline of each protected call")
    max_queue_size: int = Field(default=1000, ge=10, le=10000, description="events held while open")
    dead_letter_enabled: bool = Field(default=True, description="park records that keep failing")
    graceful_degradation: bool = Field(default=True, description="spill a full queue to the outbox")
    half_open_max_calls: int = Field(
        default=1, ge=1, le=100, description="probes admitted at once while half-open"
    )


PRODUCTION_DEFAULT = ModelCircuitBreakerConfig(
    failure_threshold=5,
    recovery_timeout=60,
    success_threshold=3,
    timeout_seconds=30,
    max_queue_size=1000,
    dead_letter_enabled=True,
    graceful_degradation=True,
)
STAGING_DEFAULT = ModelCircuitBreakerConfig(
    failure_threshold=3,
    recovery_timeout=30,
    success_threshold=2,
    timeout_seconds=20,
    max_queue_size=500,
    dead_letter_enabled=True,
    graceful_degradation=True,
)
DEVELOPMENT_DEFAULT = ModelCircuitBreakerConfig(
    failure_threshold=2,
    recovery_timeout=15,
    success_threshold=1,
    timeout_seconds=10,
    max_queue_size=100,
    dead_letter_enabled=False,
    graceful_degradation=True,
)


class ModelCircuitBreakerEnvironmentConfig(BaseModel):
    """One breaker configuration for each deployment environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    production: ModelCircuitBreakerConfig
    staging: ModelCircuitBreakerConfig
    development: ModelCircuitBreakerConfig

    @classmethod
    def create_default_config(cls) -> ModelCircuitBreakerEnvironmentConfig:
        """The seed's values: production 5/60/3/30/1000, staging 3/30/2/20/500, development 2/15/1/10/100."""
        return cls(
            production=PRODUCTION_DEFAULT,
            staging=STAGING_DEFAULT,
            development=DEVELOPMENT_DEFAULT,
        )

    def get_config_for_environment(self, environment: str | EnumEnvironment) -> ModelCircuitBreakerConfig:
        """Return the configuration of ``environment`` (any recognised spelling)."""
        env = environment if isinstance(environment, EnumEnvironment) else parse_environment(environment)
        match env:
            case EnumEnvironment.PRODUCTION:
                return self.production
            case EnumEnvironment.STAGING:
                return self.staging
            case EnumEnvironment.DEVELOPMENT:
                return self.development


__all__ = [
    "DEVELOPMENT_DEFAULT",
    "PRODUCTION_DEFAULT",
    "STAGING_DEFAULT",
    "ModelCircuitBreakerConfig",
    "ModelCircuitBreakerEnvironmentConfig",
]
