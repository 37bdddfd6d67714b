"""CredentialRotation over the real provider, a fake store and a fake clock: change detection, renewals."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from vault.fakes import FakeVaultClient, seeded_client, token_settings

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.models.model_vault_credentials import CredentialTarget, ModelVaultCredentials
from omnibase_infra.runtime.credential_rotation import CredentialRotation, InUse, Renewer

REFRESH = 60.0


class RecordingRenewer:
    """Records the credentials it was asked to switch to; can be told to fail."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name
        self.seen: list[tuple[str | None, str]] = []
        self.error: Exception | None = None

    async def __call__(self, credentials: ModelVaultCredentials) -> None:
        self.log.append(self.name)
        if self.error is not None:
            raise self.error
        self.seen.append((credentials.username, credentials.password.get_secret_value()))


@dataclass
class Rig:
    rotation: CredentialRotation
    provider: VaultCredentialProvider
    client: FakeVaultClient
    clock: FakeClock
    renewers: dict[str, RecordingRenewer]
    order: list[str]

    async def refresh(self, seconds: float = REFRESH) -> tuple[CredentialTarget, ...]:
        """Let ``seconds`` pass, then one round of ``run``: re-read what expired, compare, renew."""
        self.clock.advance(seconds)
        await self.provider.refresh_due()
        return await self.rotation.check()


def setup() -> Rig:
    clock = FakeClock()
    client = seeded_client()
    provider = VaultCredentialProvider(
        token_settings(VAULT_REFRESH_INTERVAL=str(REFRESH)), client, clock=clock
    )
    order: list[str] = []
    renewers = {name: RecordingRenewer(order, name) for name in ("pool", "producers", "consumer")}
    targets: dict[CredentialTarget, list[Renewer]] = {
        "postgres": [renewers["pool"]],
        "kafka": [renewers["producers"], renewers["consumer"]],
    }
    in_use: dict[CredentialTarget, InUse] = {
        "postgres": InUse("onex_service", SecretStr("pg-password-v1")),
        "kafka": InUse("onex-sasl", SecretStr("kafka-password-v1")),
    }
    rotation = CredentialRotation(provider, targets, in_use, clock=clock)
    return Rig(rotation, provider, client, clock, renewers, order)


async def test_unchanged_credentials_renew_nothing() -> None:
    rig = setup()
    assert await rig.rotation.check() == ()
    # A new KV version with the same values is not a rotation either.
    rig.client.write("secret", "onex/postgres", username="onex_service", password="pg-password-v1")
    assert await rig.refresh() == ()
    assert rig.order == []
    assert rig.rotation.in_use("postgres").version == 2


async def test_a_rotated_password_is_noticed_only_after_the_refresh_interval() -> None:
    rig = setup()
    await rig.rotation.check()
    rig.client.write("secret", "onex/postgres", username="onex_service", password="pg-password-v2")
    assert await rig.refresh(REFRESH - 1) == ()  # still the cached version
    assert await rig.refresh(1) == ("postgres",)
    assert rig.renewers["pool"].seen == [("onex_service", "pg-password-v2")]
    assert rig.renewers["producers"].seen == []
    assert rig.rotation.in_use("postgres") == InUse("onex_service", SecretStr("pg-password-v2"), 2)
    assert await rig.rotation.check() == ()  # renewed once, not on every round


async def test_a_rotated_username_renews_and_kafka_renews_producers_before_the_consumer() -> None:
    rig = setup()
    rig.client.write("secret", "onex/kafka", username="onex-sasl-2", password="kafka-password-v1")
    assert await rig.refresh() == ("kafka",)
    assert rig.order == ["producers", "consumer"]
    assert rig.renewers["consumer"].seen == [("onex-sasl-2", "kafka-password-v1")]
    assert rig.rotation.in_use("kafka").username == "onex-sasl-2"


async def test_a_secret_without_username_keeps_the_configured_one() -> None:
    rig = setup()
    rig.client.write("secret", "onex/postgres", password="pg-password-v1")
    assert await rig.refresh() == ()  # same password, no username: nothing changed
    rig.client.write("secret", "onex/postgres", password="pg-password-v3")
    assert await rig.refresh() == ("postgres",)
    assert rig.renewers["pool"].seen == [(None, "pg-password-v3")]
    assert rig.rotation.in_use("postgres").username == "onex_service"


async def test_a_failed_renewal_is_retried_at_the_next_round_without_leaking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = setup()
    rig.client.write("secret", "onex/kafka", username="onex-sasl", password="kafka-password-v2")
    rig.renewers["producers"].error = ConfigurationError(
        "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD", "rejected"
    )
    assert await rig.refresh() == ()
    assert rig.order == ["producers"]  # the consumer is not rebuilt when the producers could not be
    assert rig.rotation.in_use("kafka").password == SecretStr("kafka-password-v1")
    assert "not taken into use: configuration_error" in caplog.text
    rig.renewers["producers"].error = None
    assert await rig.rotation.check() == ("kafka",)  # cached credentials, renewed this time
    assert rig.order == ["producers", "producers", "consumer"]
    for secret in ("kafka-password-v1", "kafka-password-v2"):
        assert secret not in caplog.text
    rotated = [r for r in caplog.records if r.getMessage() == "credentials rotated"]
    assert [(r.target, r.version) for r in rotated] == [("kafka", 2)]  # type: ignore[attr-defined]  # `extra` fields


async def test_run_refreshes_and_renews_until_stopped() -> None:
    rig = setup()
    rig.client.write("secret", "onex/postgres", username="onex_service", password="pg-password-v2")
    rig.clock.advance(REFRESH)
    stopping = asyncio.Event()
    task = asyncio.create_task(rig.rotation.run(stopping, every=0.001))
    async with asyncio.timeout(5):  # a regression fails here instead of hanging the suite
        while not rig.renewers["pool"].seen:
            await asyncio.sleep(0.001)
    stopping.set()
    await asyncio.wait_for(task, 1)
    assert rig.renewers["pool"].seen == [("onex_service", "pg-password-v2")]


async def test_run_survives_a_failing_store(caplog: pytest.LogCaptureFixture) -> None:
    rig = setup()
    rig.client.unavailable = True
    rig.clock.advance(REFRESH)
    stopping = asyncio.Event()
    task = asyncio.create_task(rig.rotation.run(stopping, every=0.001))
    async with asyncio.timeout(5):  # a regression fails here instead of hanging the suite
        while "credential refresh failed" not in caplog.text:
            await asyncio.sleep(0.001)
    stopping.set()
    await asyncio.wait_for(task, 1)
    assert task.exception() is None
