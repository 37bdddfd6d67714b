"""``onex-infra run`` with one wrong credential or certificate: it exits 3 at once with a clear line.

The service retries an unreachable server until ``ONEX_STARTUP_TIMEOUT`` (120 s by default),
but a server that rejects our credentials, or whose certificate we do not trust, will not
change its mind: the process must stop within seconds, name the variable to fix, and print
none of the secrets (neither the right ones nor the wrong one it tried).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from secure_setup import LeastPrivilegeDb, SecuredKafka
from service_harness import ONEX_INFRA, free_port
from tls_material import TestCa
from tls_postgres import ALTERNATE_HOST

# Far below the startup timeout: a refusal that took longer was retried.
PROMPT_SECONDS = 30.0

# The bound above is on a whole `onex-infra run` start (imports included): scripts/test runs this
# module in its exclusive phase, alone, so that parallel tests cannot starve it of CPU.
pytestmark = pytest.mark.exclusive


@dataclass(frozen=True)
class Setup:
    db: LeastPrivilegeDb
    kafka: SecuredKafka
    impostor_ca: Path
    wrong_password: str
    workdir: Path

    def secret_file(self, name: str, value: str) -> str:
        path = self.workdir / name
        path.write_text(value)
        path.chmod(0o600)
        return str(path)


@pytest.fixture(scope="module")
def setup(
    least_privilege: LeastPrivilegeDb, secured_kafka: SecuredKafka, tmp_path_factory: pytest.TempPathFactory
) -> Setup:
    workdir = tmp_path_factory.mktemp("refusals")
    impostor = TestCa.create(workdir / "impostor", "impostor")
    return Setup(least_privilege, secured_kafka, impostor.cert, f"wrong-{secrets.token_hex(10)}", workdir)


def good_env(s: Setup, clean_env: dict[str, str]) -> dict[str, str]:
    """A configuration that starts: TLS PostgreSQL as onex_app, SASL_SSL Kafka."""
    run = uuid.uuid4().hex[:8]
    return {
        **clean_env,
        **s.db.env("onex_app"),
        "ENVIRONMENT": "development",
        "KAFKA_BOOTSTRAP_SERVERS": s.kafka.sasl_ssl,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": s.kafka.username,
        "KAFKA_SASL_PASSWORD_FILE": s.secret_file("sasl.password", s.kafka.password),
        "KAFKA_SSL_CA_FILE": s.kafka.ca_file,
        "KAFKA_CONSUMER_GROUP": f"onex-refusal-{run}",
        "ONEX_EVENT_STORE_TOPICS": f"onex.evt.refusal.{run}.v1",
        "ONEX_COMMAND_TOPIC": f"onex.cmd.refusal.{run}.v1",
        "ONEX_ADMIN_TOKEN": f"admin-token-{secrets.token_hex(16)}",
        "HEALTH_CHECK_PORT": str(free_port()),
        "PROMETHEUS_METRICS_PORT": str(free_port()),
    }


Change = Callable[[Setup], dict[str, str]]

CASES: list[tuple[str, Change, str, str]] = [
    (
        "kafka-sasl-wrong-password",
        lambda s: {"KAFKA_SASL_PASSWORD_FILE": s.secret_file("wrong-sasl", s.wrong_password)},
        "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD",
        "rejected SCRAM-SHA-256 authentication of user 'onex_sasl'",
    ),
    (
        "kafka-sasl-plain-unknown-user",
        lambda s: {
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka.sasl_plaintext,
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "intruder",
            "KAFKA_SASL_PASSWORD": s.wrong_password,
            "KAFKA_SASL_PASSWORD_FILE": "",
        },
        "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD",
        "rejected PLAIN authentication of user 'intruder'",
    ),
    (
        "kafka-untrusted-broker-certificate",
        lambda s: {"KAFKA_SSL_CA_FILE": str(s.impostor_ca)},
        "KAFKA_SSL_CA_FILE",
        "is not trusted",
    ),
    (
        "postgres-untrusted-server-certificate",
        lambda s: {"POSTGRES_SSL_CA_FILE": str(s.impostor_ca)},
        "POSTGRES_SSL_CA_FILE",
        "is not trusted (ssl_mode verify-full)",
    ),
    (
        "postgres-certificate-for-another-host",
        lambda s: {"POSTGRES_HOST": ALTERNATE_HOST},
        "POSTGRES_HOST",
        f"certificate is not valid for '{ALTERNATE_HOST}'",
    ),
    (
        "postgres-wrong-password",
        lambda s: {"POSTGRES_PASSWORD_FILE": s.secret_file("wrong-pg", s.wrong_password + "\n")},
        "POSTGRES_USER/POSTGRES_PASSWORD",
        'password authentication failed for user "onex_app"',
    ),
    (
        "postgres-without-tls",
        lambda s: {"POSTGRES_SSL_MODE": "disable", "POSTGRES_SSL_CA_FILE": ""},
        "POSTGRES_USER/POSTGRES_PASSWORD",
        "no encryption",
    ),
    (
        "kafka-plaintext-client-on-a-tls-listener",
        lambda s: {
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka.ssl,
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "",
            "KAFKA_SASL_USERNAME": "",
            "KAFKA_SASL_PASSWORD_FILE": "",
            "KAFKA_SSL_CA_FILE": "",
        },
        "KAFKA_SECURITY_PROTOCOL",
        "speaks TLS but KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
    ),
    (
        "kafka-tls-client-on-a-plain-listener",
        lambda s: {
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka.plaintext,
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SASL_MECHANISM": "",
            "KAFKA_SASL_USERNAME": "",
            "KAFKA_SASL_PASSWORD_FILE": "",
        },
        "KAFKA_SECURITY_PROTOCOL",
        "does not speak TLS but KAFKA_SECURITY_PROTOCOL is SSL",
    ),
    (
        "postgres-tls-required-by-a-server-without-tls",
        lambda s: {  # the suite's own PostgreSQL has TLS switched off
            "POSTGRES_HOST": os.environ["POSTGRES_HOST"],
            "POSTGRES_PORT": os.environ["POSTGRES_PORT"],
            "POSTGRES_SSL_MODE": "require",
            "POSTGRES_SSL_CA_FILE": "",
        },
        "POSTGRES_SSL_MODE",
        "does not offer TLS, and ssl_mode require requires it",
    ),
    (
        "unreadable-secret-file",
        lambda s: {"POSTGRES_PASSWORD_FILE": str(s.workdir / "absent.password")},
        "POSTGRES_PASSWORD_FILE",
        "cannot read secret file",
    ),
]


@pytest.mark.parametrize(("change", "variable", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_rejected_credential_stops_the_service_at_once_with_a_clear_line(
    setup: Setup, clean_env: dict[str, str], change: Change, variable: str, reason: str
) -> None:
    env = good_env(setup, clean_env)
    env.update(change(setup))
    env = {k: v for k, v in env.items() if v != ""}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [ONEX_INFRA, "run"], env=env, capture_output=True, text=True, timeout=PROMPT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"still running after {PROMPT_SECONDS} s (a retry loop?):\n{expired.stderr!r}")
    took = time.monotonic() - started
    output = done.stdout + done.stderr

    assert done.returncode == 3, output
    # A refusal before logging is configured is plain stderr; after it, a JSON log line.
    lines = [json.loads(x)["message"] if x.startswith("{") else x for x in output.splitlines()]
    refusals = [line for line in lines if "refusing to start" in line]
    assert refusals, output
    assert any(variable in line and reason in line for line in refusals), refusals
    assert "Traceback" not in output
    leaked = [setup.wrong_password, setup.db.app_password, setup.kafka.password, env["ONEX_ADMIN_TOKEN"]]
    assert not [secret for secret in leaked if secret in output]
    assert took < PROMPT_SECONDS
