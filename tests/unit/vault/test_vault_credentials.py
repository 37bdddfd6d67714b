"""VaultCredentialProvider with a fake store and a fake clock: caching, expiry, tokens, outages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import CircuitOpenError, ConfigurationError, LifecycleError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.infrastructure.vault_errors import (
    CredentialNotFoundError,
    CredentialStoreDeniedError,
    CredentialStoreUnavailableError,
)
from omnibase_infra.models.model_circuit_breaker_config import DEVELOPMENT_DEFAULT
from omnibase_infra.observability.redaction import redact

from .fakes import ROOT_TOKEN, FakeVaultClient, approle_settings, seeded_client, token_settings


def provider(
    client: FakeVaultClient | None = None, *, approle: bool = False, breaker: bool = False, **env: str
) -> tuple[VaultCredentialProvider, FakeVaultClient, FakeClock]:
    clock = FakeClock()
    fake = client or seeded_client()
    settings = approle_settings(**env) if approle else token_settings(**env)
    guard = EventBusCircuitBreaker("vault", DEVELOPMENT_DEFAULT, clock=clock) if breaker else None
    return VaultCredentialProvider(settings, fake, clock=clock, breaker=guard), fake, clock


async def test_reads_each_target_once_while_valid() -> None:
    p, fake, clock = provider()
    await p.start()
    postgres = await p.credentials("postgres")
    kafka = await p.credentials("kafka")
    assert (postgres.username, postgres.password.get_secret_value()) == ("onex_service", "pg-password-v1")
    assert (kafka.username, kafka.password.get_secret_value()) == ("onex-sasl", "kafka-password-v1")
    assert (postgres.source, postgres.version, postgres.valid_for_seconds) == ("secret/onex/postgres", 1, 300)
    assert fake.calls.count("read_kv2") == 2
    clock.advance(299)
    await p.credentials("postgres")
    assert fake.calls.count("read_kv2") == 2


async def test_expired_credentials_are_read_again() -> None:
    p, fake, clock = provider(VAULT_REFRESH_INTERVAL="60")
    assert (await p.credentials("postgres")).version == 1
    fake.write("secret", "onex/postgres", username="onex_service", password="pg-password-v2")
    assert (await p.credentials("postgres")).password.get_secret_value() == "pg-password-v1"
    clock.advance(60)
    fresh = await p.credentials("postgres")
    assert (fresh.version, fresh.password.get_secret_value()) == (2, "pg-password-v2")


async def test_a_shorter_lease_wins_over_the_refresh_interval() -> None:
    client = seeded_client(lease_seconds=30)
    p, _, _ = provider(client)
    assert (await p.credentials("postgres")).valid_for_seconds == 30


async def test_force_refresh_reads_at_once() -> None:
    p, fake, _ = provider()
    await p.credentials("postgres")
    fake.write("secret", "onex/postgres", password="pg-password-v2")
    forced = await p.credentials("postgres", force_refresh=True)
    assert forced.password.get_secret_value() == "pg-password-v2"
    assert forced.username is None


async def test_refresh_due_reads_only_expired_targets() -> None:
    p, fake, clock = provider()
    await p.start()
    assert await p.refresh_due() == ()
    clock.advance(300)
    assert await p.refresh_due() == ("postgres", "kafka")
    assert fake.calls.count("read_kv2") == 4


async def test_passwords_are_registered_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    p, fake, clock = provider()
    await p.start()
    fake.write("secret", "onex/kafka", username="onex-sasl", password="kafka-password-v2")
    clock.advance(300)
    await p.refresh_due()
    for value in ("pg-password-v1", "kafka-password-v1", "kafka-password-v2", ROOT_TOKEN):
        assert value not in caplog.text
        assert redact(f"x{value}x") == "x***x"
    reads = [
        (r.levelno, getattr(r, "target", None), getattr(r, "version", None))
        for r in caplog.records
        if r.msg.startswith("credentials read")
    ]
    # logged with target and version, at INFO only when the version changed
    assert reads == [
        (logging.INFO, "postgres", 1),
        (logging.INFO, "kafka", 1),
        (logging.DEBUG, "postgres", 1),
        (logging.INFO, "kafka", 2),
    ]


async def test_a_secret_without_password_names_the_path_variable() -> None:
    client = FakeVaultClient()
    client.write("secret", "onex/postgres", user="x", pass_word="value-under-a-typo-key")
    client.write("secret", "onex/kafka", password="k")
    p, _, _ = provider(client)
    with pytest.raises(CredentialNotFoundError) as caught:
        await p.credentials("postgres")
    assert caught.value.variable == "VAULT_POSTGRES_PATH"
    assert "(keys: pass_word, user)" in caught.value.reason
    assert "value-under-a-typo-key" not in str(caught.value)


async def test_a_missing_secret_names_the_path_variable() -> None:
    p, _, _ = provider(VAULT_KAFKA_PATH="onex/missing")
    with pytest.raises(CredentialNotFoundError) as caught:
        await p.credentials("kafka")
    assert caught.value.variable == "VAULT_KAFKA_PATH"
    assert p.status().targets[1].last_error == "credential_not_found"


async def test_an_unconfigured_target_is_a_configuration_error() -> None:
    p, _, _ = provider(VAULT_KAFKA_PATH="")
    with pytest.raises(ConfigurationError, match="VAULT_KAFKA_PATH"):
        await p.credentials("kafka")


async def test_a_rejected_static_token_is_reported() -> None:
    p, fake, _ = provider()
    fake.revoke(ROOT_TOKEN)
    with pytest.raises(CredentialStoreDeniedError, match="VAULT_TOKEN"):
        await p.credentials("postgres")


async def test_approle_token_is_renewed_at_two_thirds_of_its_ttl() -> None:
    p, fake, clock = provider(approle=True)
    await p.start()
    assert p.status().token_expires_in_seconds == 60
    clock.advance(39)
    await p.refresh_due()
    assert "renew_token" not in fake.calls
    clock.advance(1)
    await p.refresh_due()
    status = p.status()
    assert (status.renewals, status.logins, status.token_expires_in_seconds) == (1, 1, 60)


async def test_a_refused_renewal_logs_in_again() -> None:
    p, fake, clock = provider(approle=True)
    await p.start()
    fake.renewal_refused = True
    clock.advance(45)
    await p.refresh_due()
    assert p.status().logins == 2
    assert fake.token_in_use == "s.approle-token-0002"


async def test_a_denied_read_with_approle_logs_in_again_and_retries() -> None:
    p, fake, _ = provider(approle=True)
    await p.credentials("postgres")
    fake.revoke("s.approle-token-0001")
    assert (await p.credentials("kafka")).password.get_secret_value() == "kafka-password-v1"
    assert p.status().logins == 2


async def test_a_rewritten_token_file_is_picked_up(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(ROOT_TOKEN, encoding="utf-8")
    fake = seeded_client()
    p, _, _ = provider(fake, VAULT_TOKEN="", VAULT_TOKEN_FILE=str(token_file))
    await p.credentials("postgres")
    fake.revoke(ROOT_TOKEN)
    fake.valid_tokens["s.agent-rotated-token"] = (0, False)
    token_file.write_text("s.agent-rotated-token\n", encoding="utf-8")
    await p.credentials("kafka")
    assert fake.token_in_use == "s.agent-rotated-token"
    assert "s.agent-rotated-token" not in redact("s.agent-rotated-token")


async def test_an_unchanged_token_file_does_not_hide_a_denial(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(ROOT_TOKEN, encoding="utf-8")
    p, fake, _ = provider(VAULT_TOKEN="", VAULT_TOKEN_FILE=str(token_file))
    await p.credentials("postgres")
    fake.revoke(ROOT_TOKEN)
    with pytest.raises(CredentialStoreDeniedError, match="VAULT_KAFKA_PATH"):
        await p.credentials("kafka")


async def test_stale_credentials_are_served_while_the_store_is_down() -> None:
    p, fake, clock = provider(breaker=True)
    await p.start()
    fake.unavailable = True
    clock.advance(300)
    stale = await p.credentials("postgres")
    assert stale.password.get_secret_value() == "pg-password-v1"
    target = p.status().targets[0]
    assert (target.stale, target.last_error) == (True, "credential_store_unavailable")
    assert target.expires_in_seconds is not None and target.expires_in_seconds <= 0
    assert not p.status().healthy
    await p.credentials("kafka")  # second outage: development opens after 2 failures
    assert p.status().breaker_state == "open"
    calls = len(fake.calls)
    await p.credentials("postgres")  # refused by the breaker, still served
    assert len(fake.calls) == calls
    fake.unavailable = False
    clock.advance(DEVELOPMENT_DEFAULT.recovery_timeout)
    assert await p.refresh_due() == ("postgres", "kafka")
    assert p.status().healthy


async def test_without_degradation_an_outage_is_raised() -> None:
    clock = FakeClock()
    config = DEVELOPMENT_DEFAULT.model_copy(update={"graceful_degradation": False})
    fake = seeded_client()
    p = VaultCredentialProvider(
        token_settings(), fake, clock=clock, breaker=EventBusCircuitBreaker("vault", config, clock=clock)
    )
    await p.credentials("postgres")
    fake.unavailable = True
    clock.advance(300)
    with pytest.raises(CredentialStoreUnavailableError):
        await p.credentials("postgres")
    with pytest.raises(CredentialStoreUnavailableError):
        await p.credentials("postgres")
    with pytest.raises(CircuitOpenError):
        await p.credentials("postgres")


async def test_an_outage_before_any_read_is_raised() -> None:
    p, fake, _ = provider(breaker=True)
    fake.unavailable = True
    with pytest.raises(CredentialStoreUnavailableError):
        await p.start()


async def test_password_source_gives_the_current_password() -> None:
    p, fake, clock = provider()
    source = p.password_source("postgres")
    assert await source() == "pg-password-v1"
    fake.write("secret", "onex/postgres", password="pg-password-v2")
    clock.advance(300)
    assert await source() == "pg-password-v2"


async def test_stop_is_idempotent_and_refuses_later_reads() -> None:
    p, fake, _ = provider()
    await p.credentials("postgres")
    await p.stop()
    await p.stop()
    assert fake.closed == 1
    with pytest.raises(LifecycleError):
        await p.credentials("postgres")
    with pytest.raises(LifecycleError):
        p.read_now("kafka")
