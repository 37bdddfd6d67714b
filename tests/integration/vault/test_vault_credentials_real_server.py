"""The credential provider, the settings hook and the vault_adapter node against a real OpenBao server."""

from __future__ import annotations

import logging
from pathlib import Path

import hvac
import pytest
from bao_dev_server import BaoDevServer, start_bao_dev_server
from conftest import AppRole, WrittenSecrets

from omnibase_infra.clock import FakeClock
from omnibase_infra.container import build_container
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.infrastructure.vault_errors import (
    CredentialNotFoundError,
    CredentialStoreDeniedError,
    CredentialStoreUnavailableError,
)
from omnibase_infra.infrastructure.vault_settings import load_vault_settings
from omnibase_infra.nodes.vault_adapter.v1_0_0.models import (
    ModelHealthCheckRequest,
    ModelHealthCheckResult,
    ModelReadCredentialsRequest,
    ModelReadCredentialsResult,
    ModelVaultAdapterInput,
)
from omnibase_infra.nodes.vault_adapter.v1_0_0.node import NodeVaultAdapterEffect
from omnibase_infra.protocols.protocol_credential_provider import ProtocolCredentialProvider
from omnibase_infra.settings import load_settings

CONTRACTS = load_contract_set(validate_core=False)


def vault_env(bao: BaoDevServer, written: WrittenSecrets, **extra: str) -> dict[str, str]:
    return {
        "VAULT_ADDR": bao.address,
        "VAULT_POSTGRES_PATH": written.postgres_path,
        "VAULT_KAFKA_PATH": written.kafka_path,
        "VAULT_TIMEOUT": "5",
        **extra,
    }


def make_provider(environ: dict[str, str], clock: FakeClock) -> VaultCredentialProvider:
    settings = load_vault_settings(environ)
    assert settings is not None
    return VaultCredentialProvider.from_contract(
        settings, CONTRACTS.node("vault_adapter"), EnumEnvironment.DEVELOPMENT, clock=clock
    )


async def test_reads_the_credentials_written_with_hvac(
    bao: BaoDevServer, secrets_written: WrittenSecrets
) -> None:
    provider = make_provider(vault_env(bao, secrets_written, VAULT_TOKEN=bao.root_token), FakeClock())
    await provider.start()
    postgres = await provider.credentials("postgres")
    kafka = await provider.credentials("kafka")
    assert (postgres.username, postgres.password.get_secret_value()) == (
        "onex_service",
        secrets_written.postgres_password,
    )
    assert (kafka.username, kafka.password.get_secret_value()) == (
        "onex-sasl",
        secrets_written.kafka_password,
    )
    assert (postgres.version, postgres.source) == (1, f"secret/{secrets_written.postgres_path}")
    status = provider.status()
    assert status.healthy and status.breaker_state == "closed" and status.token_expires_in_seconds is None
    await provider.stop()


async def test_a_changed_secret_is_picked_up_by_the_refresh(
    bao: BaoDevServer, root_client: hvac.Client, secrets_written: WrittenSecrets
) -> None:
    clock = FakeClock()
    provider = make_provider(
        vault_env(bao, secrets_written, VAULT_TOKEN=bao.root_token, VAULT_REFRESH_INTERVAL="120"), clock
    )
    await provider.start()
    secrets_written.write_postgres(root_client, "pg-rotated-password-v2")
    assert (await provider.credentials("postgres")).version == 1  # still valid: served from the cache
    clock.advance(119)
    assert await provider.refresh_due() == ()
    clock.advance(1)
    assert await provider.refresh_due() == ("postgres", "kafka")
    rotated = await provider.credentials("postgres")
    assert (rotated.version, rotated.password.get_secret_value()) == (2, "pg-rotated-password-v2")
    secrets_written.write_kafka(root_client, "kafka-rotated-password-v2", username="onex-sasl-2")
    forced = await provider.credentials("kafka", force_refresh=True)
    assert (forced.version, forced.username) == (2, "onex-sasl-2")
    await provider.stop()


async def test_approle_logs_in_renews_and_logs_in_again_after_revocation(
    bao: BaoDevServer, root_client: hvac.Client, secrets_written: WrittenSecrets, approle: AppRole
) -> None:
    clock = FakeClock()
    environ = vault_env(
        bao, secrets_written, VAULT_ROLE_ID=approle.role_id, VAULT_SECRET_ID=approle.secret_id
    )
    provider = make_provider(environ, clock)
    await provider.start()
    status = provider.status()
    assert (status.auth_method, status.logins, status.token_renewable) == ("approle", 1, True)
    assert status.token_expires_in_seconds == 60

    clock.advance(40)  # two thirds of the 60 s TTL
    await provider.refresh_due()
    assert provider.status().renewals == 1

    root_client.sys.revoke_prefix("auth/approle/login")  # every token AppRole handed out
    secrets_written.write_kafka(root_client, "kafka-after-revocation")
    fresh = await provider.credentials("kafka", force_refresh=True)
    assert fresh.password.get_secret_value() == "kafka-after-revocation"
    assert provider.status().logins == 2
    await provider.stop()


async def test_denied_and_missing_secrets_name_the_variable(
    bao: BaoDevServer, root_client: hvac.Client, secrets_written: WrittenSecrets, approle: AppRole
) -> None:
    environ = vault_env(
        bao,
        secrets_written,
        VAULT_ROLE_ID=approle.role_id,
        VAULT_SECRET_ID=approle.secret_id,
        VAULT_KAFKA_PATH="someone-else/kafka",
    )
    provider = make_provider(environ, FakeClock())
    with pytest.raises(CredentialStoreDeniedError) as denied:
        await provider.credentials("kafka")
    assert denied.value.variable == "VAULT_KAFKA_PATH"
    assert "permission denied" in denied.value.reason

    missing = make_provider(
        vault_env(bao, secrets_written, VAULT_TOKEN=bao.root_token, VAULT_POSTGRES_PATH="nothing/here"),
        FakeClock(),
    )
    with pytest.raises(CredentialNotFoundError) as not_found:
        await missing.credentials("postgres")
    assert not_found.value.variable == "VAULT_POSTGRES_PATH"

    with pytest.raises(CredentialStoreDeniedError, match="VAULT_TOKEN"):
        await make_provider(
            vault_env(bao, secrets_written, VAULT_TOKEN="s.not-a-real-token"), FakeClock()
        ).start()


def test_load_settings_takes_the_credentials_from_the_store(
    bao: BaoDevServer, secrets_written: WrittenSecrets, token_file: Path
) -> None:
    environ = {
        **vault_env(bao, secrets_written, VAULT_TOKEN_FILE=str(token_file)),
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_DATABASE": "onex",
        "POSTGRES_USER": "configured-user",
        "POSTGRES_PASSWORD": "password-from-the-environment",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    }
    settings = load_settings(environ)
    assert settings.postgres.user == "onex_service"
    assert settings.postgres.password is not None
    assert settings.postgres.password.get_secret_value() == secrets_written.postgres_password
    assert settings.kafka_security.sasl_username == "onex-sasl"
    assert settings.kafka_security.sasl_password is not None
    assert settings.kafka_security.sasl_password.get_secret_value() == secrets_written.kafka_password


def test_an_unreachable_store_refuses_to_load_settings(secrets_written: WrittenSecrets) -> None:
    from bao_dev_server import free_port

    environ = {
        "VAULT_ADDR": f"http://127.0.0.1:{free_port()}",
        "VAULT_TOKEN": "s.token-for-nowhere",
        "VAULT_POSTGRES_PATH": secrets_written.postgres_path,
        "VAULT_TIMEOUT": "2",
    }
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ)
    assert caught.value.variable == "VAULT_ADDR"
    assert "unreachable" in caught.value.reason


async def test_stale_credentials_are_served_while_the_store_is_down(tmp_path: Path) -> None:
    server = start_bao_dev_server(tmp_path)
    try:
        root = hvac.Client(url=server.address, token=server.root_token)
        root.secrets.kv.v2.create_or_update_secret(
            path="onex/postgres", secret={"password": "pg-before-outage"}, mount_point="secret"
        )
        clock = FakeClock()
        settings = load_vault_settings(
            {
                "VAULT_ADDR": server.address,
                "VAULT_TOKEN": server.root_token,
                "VAULT_POSTGRES_PATH": "onex/postgres",
                "VAULT_TIMEOUT": "2",
            }
        )
        assert settings is not None
        provider = VaultCredentialProvider.from_contract(
            settings, CONTRACTS.node("vault_adapter"), EnumEnvironment.DEVELOPMENT, clock=clock
        )
        await provider.start()
    finally:
        server.stop()
    clock.advance(300)
    stale = await provider.credentials("postgres")
    assert stale.password.get_secret_value() == "pg-before-outage"
    target = provider.status().targets[0]
    assert (target.stale, target.last_error) == (True, "credential_store_unavailable")
    await provider.credentials("postgres")
    assert provider.status().breaker_state == "open"  # development: two outages open it
    with pytest.raises(CredentialStoreUnavailableError):
        provider.read_now("postgres")  # the synchronous path has no cache fallback
    await provider.stop()


async def test_the_node_serves_credentials_from_the_store(
    bao: BaoDevServer, secrets_written: WrittenSecrets
) -> None:
    provider = make_provider(vault_env(bao, secrets_written, VAULT_TOKEN=bao.root_token), FakeClock())
    container = await build_container(
        CONTRACTS, environment=EnumEnvironment.DEVELOPMENT, services=[(ProtocolCredentialProvider, provider)]
    )
    node = NodeVaultAdapterEffect(container)
    await node.initialize()
    read = await node.execute(ModelVaultAdapterInput(request=ModelReadCredentialsRequest(target="postgres")))
    assert isinstance(read.result, ModelReadCredentialsResult)
    assert read.result.credentials.password.get_secret_value() == secrets_written.postgres_password
    assert secrets_written.postgres_password not in read.model_dump_json()
    health = await node.execute(ModelVaultAdapterInput(request=ModelHealthCheckRequest()))
    assert isinstance(health.result, ModelHealthCheckResult)
    assert [t.target for t in health.result.status.targets if t.fetched_at] == ["postgres"]
    await provider.stop()


async def test_no_token_or_credential_reaches_the_logs(
    bao: BaoDevServer,
    root_client: hvac.Client,
    secrets_written: WrittenSecrets,
    approle: AppRole,
    token_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, hvac, urllib3
    clock = FakeClock()
    errors: list[str] = []
    approle_provider = make_provider(
        vault_env(bao, secrets_written, VAULT_ROLE_ID=approle.role_id, VAULT_SECRET_ID=approle.secret_id),
        clock,
    )
    await approle_provider.start()
    approle_token = approle_provider._client._client.token  # type: ignore[attr-defined]  # the token in use
    secrets_written.write_postgres(root_client, "pg-rotated-for-the-log-test")
    clock.advance(300)
    await approle_provider.refresh_due()
    for bad in ({"VAULT_KAFKA_PATH": "forbidden/kafka"}, {"VAULT_POSTGRES_PATH": "missing/postgres"}):
        broken = make_provider(
            vault_env(
                bao, secrets_written, VAULT_ROLE_ID=approle.role_id, VAULT_SECRET_ID=approle.secret_id, **bad
            ),
            clock,
        )
        try:
            await broken.start()
        except ConfigurationError as exc:
            errors.append(str(exc))
    load_settings(
        {
            **vault_env(bao, secrets_written, VAULT_TOKEN_FILE=str(token_file)),
            "POSTGRES_HOST": "h",
            "POSTGRES_DATABASE": "d",
            "POSTGRES_USER": "u",
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
        }
    )
    await approle_provider.stop()

    assert len(errors) == 2
    logged = caplog.text + "\n".join(
        str(r.__dict__) for r in caplog.records
    )  # messages, extras and arguments of every record
    assert "credentials read from the credential store" in logged
    assert "/v1/auth/approle/login" in logged  # the HTTP layer's records were captured too
    for secret in (
        bao.root_token,
        approle.secret_id,
        approle_token,
        secrets_written.postgres_password,
        secrets_written.kafka_password,
        "pg-rotated-for-the-log-test",
    ):
        assert secret not in logged
        assert all(secret not in error for error in errors)
