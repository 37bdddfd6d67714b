"""The whole service, configured as in production, against the real servers.

One ``onex-infra run`` process (module scope) with:

- PostgreSQL over TLS, ``verify-full`` against the test CA, as ``onex_app``: the
  least-privilege role of ``deploy/postgres/least_privilege_roles.sql`` (no superuser, no
  DDL); the schema was migrated by ``onex_migrator``. The password comes from
  ``POSTGRES_PASSWORD_FILE`` (``POSTGRES_PASSWORD`` is not set at all).
- Kafka over the broker's SASL_SSL listener (SCRAM-SHA-256), the password from
  ``KAFKA_SASL_PASSWORD_FILE``, the broker certificate checked against the test CA.
- ``ONEX_ADMIN_TOKEN`` (plain variable) guarding the breaker reset.
- ``LOG_LEVEL=DEBUG``: the most talkative logging, to give a secret every chance to leak.

Every HTTP response the tests receive is recorded. The last test stops the service and scans
every output of the run (log, HTTP bodies and headers, the records it published, the rows it
wrote) for every secret, also base64-encoded and in parts. Tests run in file order; the
last one also exercises the endpoints itself, so it is meaningful when run alone.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secret_scan import find_leaks
from secure_setup import LeastPrivilegeDb, SecuredKafka
from service_harness import (
    ServiceProcess,
    ServiceTopics,
    consume_all,
    create_topics,
    delete_topics,
    encode,
    free_port,
    make_envelope,
    produce,
    service_env,
)

from omnibase_infra.workflow.records import dlq_topic_for

# ---- the running service ---------------------------------------------------------------------


@dataclass
class Recorded:
    """Everything the service said to the tests over HTTP."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, text: str) -> None:
        self.items.append((label, text))


@dataclass(repr=False)  # hypothesis prints the fixture on failure: keep that short
class SecureService:
    process: ServiceProcess
    topics: ServiceTopics
    outbox_target: str
    db: LeastPrivilegeDb
    kafka: SecuredKafka
    admin_token: str
    recorded: Recorded

    @property
    def base_url(self) -> str:
        return self.process.base_url

    def __repr__(self) -> str:
        return f"<SecureService {self.base_url}>"

    def secrets(self) -> dict[str, str]:
        return {
            "POSTGRES_PASSWORD of onex_app": self.db.app_password,
            "POSTGRES_PASSWORD of onex_migrator": self.db.migrator_password,
            "KAFKA_SASL_PASSWORD": self.kafka.password,
            "ONEX_ADMIN_TOKEN": self.admin_token,
        }

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        port: int | None = None,
    ) -> tuple[int, str]:
        """Send one request; record the status line, headers and body; fail on a hang."""
        url = f"http://127.0.0.1:{port or self.process.health_port}{path}"
        client_timeout = aiohttp.ClientTimeout(total=10.0)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.request(method, url, headers=headers) as response,
        ):
            body = await response.text(errors="replace")
            head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            self.recorded.add(f"HTTP {method} {path} -> {response.status}", f"{head}\n\n{body}")
            return response.status, body


async def _create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    await create_topics(bootstrap, topics, client_id="onex-security-admin")


async def _delete_topics(bootstrap: str, prefixes: list[str]) -> None:
    await delete_topics(bootstrap, prefixes, client_id="onex-security-admin")


@pytest.fixture(scope="module")
def secure_service(
    least_privilege: LeastPrivilegeDb, secured_kafka: SecuredKafka, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureService]:
    run = uuid.uuid4().hex[:8]
    topics = ServiceTopics(
        store=f"onex.evt.sec-store.{run}.v1",
        command=f"onex.cmd.sec-command.{run}.v1",
        completed=f"onex.evt.sec-completed.{run}.v1",
        failed=f"onex.evt.sec-failed.{run}.v1",
        state=f"onex.evt.sec-state.{run}.v1",
    )
    outbox_target = f"onex.evt.sec-outbox.{run}.v1"
    plain = secured_kafka.plaintext
    asyncio.run(
        _create_topics(
            plain,
            {topics.store: 2, topics.command: 1, topics.completed: 1, topics.failed: 1, topics.state: 1}
            | {outbox_target: 1},
        )
    )
    workdir = tmp_path_factory.mktemp("secure-service")
    sasl_password_file = workdir / "kafka-sasl.password"
    sasl_password_file.write_text(secured_kafka.password + "\n")
    sasl_password_file.chmod(0o600)
    admin_token = f"admin-token-{secrets.token_hex(16)}"

    health_port, metrics_port = free_port(), free_port()
    env = service_env(
        schema=least_privilege.schema,
        topics=topics,
        group=f"onex-sec-{run}",
        health_port=health_port,
        metrics_port=metrics_port,
    )
    dropped = ("POSTGRES_", "KAFKA_SASL_", "KAFKA_SSL_", "KAFKA_SECURITY_", "ONEX_ADMIN_TOKEN")
    env = {k: v for k, v in env.items() if not k.startswith(dropped)}
    env |= least_privilege.env("onex_app")
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": secured_kafka.sasl_ssl,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": secured_kafka.username,
        "KAFKA_SASL_PASSWORD_FILE": str(sasl_password_file),
        "KAFKA_SSL_CA_FILE": secured_kafka.ca_file,
        "ONEX_ADMIN_TOKEN": admin_token,
        "ONEX_OUTBOX_TOPICS": outbox_target,
        "LOG_LEVEL": "DEBUG",
    }
    process = ServiceProcess(env, workdir / "service.log", health_port, metrics_port)
    process.start()
    try:
        asyncio.run(process.wait_ready(within=90))
        yield SecureService(
            process, topics, outbox_target, least_privilege, secured_kafka, admin_token, Recorded()
        )
    finally:
        process.kill()
        owned = [topics.store, topics.command, topics.completed, topics.failed, topics.state, outbox_target]
        asyncio.run(_delete_topics(plain, owned))  # prefixes: the DLQ topics go too


# ---- helpers ------------------------------------------------------------------------------


async def admin_fetchval(db: LeastPrivilegeDb, query: str, *args: object) -> object:
    conn = await db.server.admin_connect(db.database)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def wait_until(what: str, check: object, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


# ---- the tests, in order ----------------------------------------------------------------------


async def test_the_service_stores_events_and_runs_an_operation_as_the_least_privilege_role(
    secure_service: SecureService,
) -> None:
    svc, db = secure_service, secure_service.db
    envelopes = [make_envelope({"n": i, "note": "least privilege"}) for i in range(5)]
    await produce(svc.kafka.plaintext, svc.topics.store, [encode(e) for e in envelopes], partitions=2)
    command = make_envelope(
        {
            "operation": "enqueue_outbox_event",
            "parameters": {"topic": svc.outbox_target, "key": "k-sec", "payload": "through the outbox"},
        },
        event_type="onex.postgres.operation.requested",
    )
    await produce(svc.kafka.plaintext, svc.topics.command, [encode(command)])

    async def stored() -> bool:
        count = await admin_fetchval(db, "SELECT count(*) FROM onex.onex_event_store")
        return int(str(count)) >= len(envelopes)

    await wait_until("5 envelopes in onex.onex_event_store", stored)
    replies = await consume_all(svc.kafka.plaintext, svc.topics.completed, expect=1)
    answer = json.loads(replies[0].value)  # type: ignore[attr-defined]
    assert answer["parent_envelope_id"] == str(command.envelope_id)
    assert answer["payload"]["status"] == "completed"
    # The outbox relay published the queued record through the SASL_SSL producer pool.
    published = await consume_all(svc.kafka.plaintext, svc.outbox_target, expect=1)
    assert [r.value for r in published] == [b"through the outbox"]  # type: ignore[attr-defined]

    # Every session of the service is onex_app over TLS.
    conn = await db.server.admin_connect(db.database)
    try:
        sessions = await conn.fetch(
            "SELECT a.usename, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
            "WHERE a.application_name = 'omnibase-infra'"
        )
        role = await conn.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = 'onex_app'"
        )
        privileges = await conn.fetchrow(
            "SELECT has_schema_privilege('onex_app', 'onex', 'CREATE') AS schema_create, "
            "has_database_privilege('onex_app', current_database(), 'CREATE') AS db_create, "
            "has_database_privilege('onex_app', current_database(), 'TEMP') AS db_temp, "
            "has_table_privilege('onex_app', 'onex.onex_event_store', 'TRUNCATE') AS can_truncate, "
            "has_table_privilege('onex_app', 'onex.onex_event_store', 'INSERT') AS can_insert, "
            "(SELECT tableowner FROM pg_tables WHERE schemaname = 'onex' "
            " AND tablename = 'onex_event_store') AS owner"
        )
    finally:
        await conn.close()
    assert sessions, "the service holds no PostgreSQL session"
    assert {(r["usename"], r["ssl"]) for r in sessions} == {("onex_app", True)}
    assert role is not None and not any(role.values())
    assert privileges is not None
    assert dict(privileges) == {
        "schema_create": False,
        "db_create": False,
        "db_temp": True,  # the event-store writer's COPY staging table (see the roles SQL)
        "can_truncate": False,
        "can_insert": True,
        "owner": "onex_migrator",
    }


async def test_the_admin_reset_is_refused_without_the_right_token(secure_service: SecureService) -> None:
    svc = secure_service
    path = "/admin/breakers/postgres/reset"
    refused = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {svc.admin_token}x"},
        {"Authorization": f"Bearer {svc.admin_token[:-1]}"},
        {"Authorization": f"Basic {svc.admin_token}"},
        {"Authorization": f"Token {svc.admin_token}"},
        {"X-Admin-Token": svc.admin_token},
    ]
    for headers in refused:
        status, body = await svc.request("POST", path, headers=headers)
        assert status == 401, (headers.keys(), status, body)
        assert json.loads(body) == {"error": "unauthorized"}
    # Without the token an unknown breaker is also 401: the breaker names are not disclosed.
    assert (await svc.request("POST", "/admin/breakers/nope/reset"))[0] == 401
    assert (await svc.request("GET", path, headers={"Authorization": f"Bearer {svc.admin_token}"}))[0] == 405

    good = {"Authorization": f"Bearer {svc.admin_token}"}
    status, body = await svc.request("POST", path, headers=good)
    assert (status, json.loads(body)) == (200, {"breaker": "postgres", "state": "closed"})
    assert (await svc.request("POST", "/admin/breakers/nope/reset", headers=good))[0] == 404

    async def denials_audited() -> bool:
        count = await admin_fetchval(
            svc.db,
            "SELECT count(*) FROM onex.onex_audit WHERE action = 'reset_breaker' AND outcome = 'denied'",
        )
        return int(str(count)) >= len(refused)

    await wait_until("the refused resets in onex_audit", denials_audited)


# ---- fuzzing: schemathesis from the service's own OpenAPI document, hypothesis for the rest ----


@pytest.fixture(scope="module")
def openapi_strategies(secure_service: SecureService) -> dict[str, st.SearchStrategy[schemathesis.Case]]:
    """Case strategies over every operation of the running service's own ``/openapi.json``."""
    schema = schemathesis.openapi.from_url(f"{secure_service.base_url}/openapi.json")
    operations = {f"{op.method.upper()} {op.path}" for op in (r.ok() for r in schema.get_all_operations())}
    assert "POST /admin/breakers/{name}/reset" in operations, operations  # the token is configured
    return {mode.value: schema.as_strategy(generation_mode=mode) for mode in schemathesis.GenerationMode}


@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "admin-token"])
@pytest.mark.parametrize("mode", [m.value for m in schemathesis.GenerationMode])
@settings(deadline=None, max_examples=60, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_documented_endpoint_answers_as_its_openapi_document_says(
    openapi_strategies: dict[str, st.SearchStrategy[schemathesis.Case]],
    secure_service: SecureService,
    mode: str,
    with_token: bool,
    data: st.DataObject,
) -> None:
    """schemathesis: no 5xx, documented status codes, content types and bodies; admin needs the token."""
    case = data.draw(openapi_strategies[mode])
    headers = {"Authorization": f"Bearer {secure_service.admin_token}"} if with_token else None
    response = case.call_and_validate(headers=headers, timeout=10)
    secure_service.recorded.add(f"schemathesis {case.method} {case.formatted_path}", response.text)
    if case.path.startswith("/admin/") and not with_token:
        assert response.status_code == 401, response.text


_methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO"])
_segments = st.one_of(
    st.sampled_from(["health", "detailed", "ready", "metrics", "openapi.json", "admin", "breakers", "reset"]),
    st.sampled_from(["..", "%2e%2e", "%00", "%ff", ";", "%2F", "*", "~", "a" * 300, "postgres", "kafka"]),
    st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_characters="/?#"), max_size=20
    ),
)
_paths = st.lists(_segments, min_size=0, max_size=5).map(lambda parts: "/" + "/".join(parts))
_authorizations = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200),
    st.sampled_from(["Bearer ", "bearer x", "Bearer " + "A" * 4000, "Basic Zm9vOmJhcg==", "Bearer \u00e9"]),
)
_bodies = st.one_of(st.just(b""), st.binary(max_size=2000), st.just(b"{" * 5000))


async def _raw_http(port: int, request: bytes) -> tuple[int, str]:
    """Send raw bytes, read the whole answer (the server must answer within 10 s)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    assert status_line.startswith("HTTP/1."), answer[:200]
    return int(status_line.split()[1]), body.decode("utf-8", errors="replace")


@settings(deadline=None, max_examples=200, suppress_health_check=list(HealthCheck))
@given(method=_methods, path=_paths, authorization=_authorizations, body=_bodies)
def test_hostile_requests_get_no_server_error_and_no_admin_action(
    secure_service: SecureService, method: str, path: str, authorization: str, body: bytes
) -> None:
    """Raw HTTP: any method, path (traversal, encodings, long or non-ASCII segments), header, body."""
    svc = secure_service
    request = (
        f"{method} ".encode()
        + path.encode("utf-8")
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + b"Authorization: "
        + authorization.encode("utf-8")
        + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    status, text = asyncio.run(_raw_http(svc.process.health_port, request))
    svc.recorded.add(f"hypothesis {method} {path!r}", text)
    assert status < 500, (method, path, status, text)
    if "admin" in path and "reset" in path:
        assert status != 200, (method, path, text)


# ---- a failing operation, a poison record, a database outage ----------------------------------


async def test_a_failing_operation_and_a_database_outage_are_reported_without_secrets(
    secure_service: SecureService,
) -> None:
    svc, db = secure_service, secure_service.db
    bad = make_envelope(
        {"operation": "get_event_by_id", "parameters": {"envelope_id": "'; DROP ROLE onex_app; --"}}
    )
    await produce(svc.kafka.plaintext, svc.topics.command, [encode(bad)])
    await produce(svc.kafka.plaintext, svc.topics.store, [b"\xff not an envelope"])
    failed = await consume_all(svc.kafka.plaintext, svc.topics.failed, expect=1)
    error = json.loads(failed[0].value)["payload"]["error"]  # type: ignore[attr-defined]
    assert error["kind"] == "invalid_parameters", error  # format: uuid is asserted before any SQL
    assert len(await consume_all(svc.kafka.plaintext, dlq_topic_for(svc.topics.store), expect=1)) == 1

    db.server.stop("immediate")
    try:
        seen: list[dict[str, object]] = []

        async def postgres_unhealthy() -> bool:
            _, body = await svc.request("GET", "/health/detailed")
            postgres = json.loads(body).get("postgres_metrics") or {}
            seen.append(postgres)
            return postgres.get("status") == "unhealthy"

        await wait_until("the service to notice the outage", postgres_unhealthy)
        assert seen[-1].get("error"), seen[-1]  # the (sanitised) reason is in the body the scan reads
        for path in ("/health", "/health/detailed", "/ready"):
            assert (await svc.request("GET", path))[0] in (200, 503)
        assert (await svc.request("GET", "/metrics"))[0] == 200
        assert (await svc.request("GET", "/metrics", port=svc.process.metrics_port))[0] == 200
    finally:
        db.server.start()

    async def ready_again() -> bool:
        return (await svc.request("GET", "/ready"))[0] == 200

    await wait_until("the service to be ready again", ready_again, within=60)


# ---- the scan ------------------------------------------------------------------------------


async def _kafka_outputs(svc: SecureService) -> list[tuple[str, str]]:
    topics = [
        svc.topics.completed,
        svc.topics.failed,
        svc.topics.state,
        svc.outbox_target,
        dlq_topic_for(svc.topics.store),
        dlq_topic_for(svc.topics.command),
    ]
    everything = await asyncio.gather(
        *(consume_all(svc.kafka.plaintext, topic, expect=10**6, within=4) for topic in topics)
    )
    outputs: list[tuple[str, str]] = []
    for topic, records in zip(topics, everything, strict=True):
        for record in records:
            headers = " ".join(f"{k}={v!r}" for k, v in record.headers)  # type: ignore[attr-defined]
            key = record.key  # type: ignore[attr-defined]
            value = record.value  # type: ignore[attr-defined]
            outputs.append((f"kafka {topic}", f"{key!r} {value!r} {headers}"))
    return outputs


async def _database_outputs(db: LeastPrivilegeDb) -> list[tuple[str, str]]:
    conn = await db.server.admin_connect(db.database)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'onex'")
        outputs = []
        for row in tables:
            name = row["tablename"]
            rows = await conn.fetch(f'SELECT row_to_json(t)::text AS j FROM onex."{name}" t')
            outputs += [(f"table onex.{name}", r["j"]) for r in rows]
        return outputs
    finally:
        await conn.close()


async def test_no_secret_appears_in_any_output_of_the_run(secure_service: SecureService) -> None:
    svc = secure_service
    for path in ("/health", "/health/detailed", "/ready", "/metrics", "/openapi.json"):
        await svc.request("GET", path)
    await svc.request("GET", "/metrics", port=svc.process.metrics_port)
    await svc.request("POST", "/admin/breakers/kafka/reset", headers={"Authorization": "Bearer nope"})
    code, _ = svc.process.stop(signal.SIGTERM)
    assert code == 0, svc.process.log_tail()

    log = svc.process.log_text()
    assert '"service running"' in log and '"level":"DEBUG"' in log, "the log is not the one expected"
    # One JSON object per line for every reader, whatever the hostile requests put in a path.
    assert len(log.splitlines()) == len(log.rstrip("\n").split("\n"))
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    # Malformed requests from the hostile test are one INFO line each, never ERROR + traceback.
    assert not [x for x in lines if x["logger"] == "aiohttp.server" and x["level"] == "ERROR"]
    outputs = [("service log", log), *svc.recorded.items]
    outputs += await _kafka_outputs(svc)
    outputs += await _database_outputs(svc.db)

    leaks = find_leaks(svc.secrets(), outputs)
    assert not leaks, "\n".join(leaks)
    assert len(outputs) > 50, f"suspiciously few outputs were scanned: {len(outputs)}"
    labels = {where.split(" ", 1)[0] for where, _ in outputs}
    assert {"service", "HTTP", "schemathesis", "hypothesis", "kafka", "table"} <= labels, labels
