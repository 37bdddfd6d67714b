"""Fixtures for the credential-store tests against a real OpenBao dev server (no PostgreSQL/Kafka needed).

- ``bao`` (session): one ``bao server -dev`` on loopback, stopped at the end of the session.
- ``root_client`` (session): an hvac client holding the root token, for setting up secrets.
- ``secrets_written``: unique KV paths with PostgreSQL and Kafka credentials (random passwords).
- ``approle``: a role allowed to read only those paths, with its role id and a secret id.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
from bao_dev_server import BaoDevServer, start_bao_dev_server


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoDevServer]:
    try:
        server = start_bao_dev_server(tmp_path_factory.mktemp("bao"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def root_client(bao: BaoDevServer) -> hvac.Client:
    client = hvac.Client(url=bao.address, token=bao.root_token)
    client.sys.enable_auth_method("approle")
    return client


@dataclass
class WrittenSecrets:
    prefix: str
    postgres_path: str
    kafka_path: str
    postgres_password: str
    kafka_password: str

    def write_postgres(self, client: hvac.Client, password: str, username: str = "onex_service") -> None:
        client.secrets.kv.v2.create_or_update_secret(
            path=self.postgres_path, secret={"username": username, "password": password}, mount_point="secret"
        )

    def write_kafka(self, client: hvac.Client, password: str, username: str = "onex-sasl") -> None:
        client.secrets.kv.v2.create_or_update_secret(
            path=self.kafka_path, secret={"username": username, "password": password}, mount_point="secret"
        )


@pytest.fixture
def secrets_written(root_client: hvac.Client) -> WrittenSecrets:
    prefix = f"onex-{uuid.uuid4().hex[:8]}"
    written = WrittenSecrets(
        prefix=prefix,
        postgres_path=f"{prefix}/postgres",
        kafka_path=f"{prefix}/kafka",
        postgres_password="pg-" + secrets.token_urlsafe(18),
        kafka_password="kafka-" + secrets.token_urlsafe(18),
    )
    written.write_postgres(root_client, written.postgres_password)
    written.write_kafka(root_client, written.kafka_password)
    return written


@dataclass
class AppRole:
    name: str
    role_id: str
    secret_id: str


@pytest.fixture
def approle(root_client: hvac.Client, secrets_written: WrittenSecrets) -> AppRole:
    name = secrets_written.prefix
    root_client.sys.create_or_update_policy(
        name, f'path "secret/data/{secrets_written.prefix}/*" {{ capabilities = ["read"] }}'
    )
    root_client.auth.approle.create_or_update_approle(
        name, token_policies=[name], token_ttl="60s", token_max_ttl="600s"
    )
    role_id = root_client.auth.approle.read_role_id(name)["data"]["role_id"]
    secret_id = root_client.auth.approle.generate_secret_id(name)["data"]["secret_id"]
    return AppRole(name=name, role_id=role_id, secret_id=secret_id)


@pytest.fixture
def token_file(tmp_path: Path, bao: BaoDevServer) -> Path:
    path = tmp_path / "vault-token"
    path.write_text(bao.root_token + "\n", encoding="utf-8")
    return path
