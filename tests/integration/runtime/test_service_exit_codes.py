"""Exit codes of `onex-infra run` against the real servers: SIGINT → 0, a crashed task → 1.

No outside action makes one of the service's tasks crash (the relay and the health loop
survive every error they meet, the consumer loop every handler failure), so the crash is
made in process: ``InfraService`` runs in this test's event loop with its outbox relay
replaced by one that raises; everything else is the real service on the real servers.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import pytest
from service_harness import ServiceProcess, committed_offsets, encode, make_envelope, produce

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.runtime import service as service_module
from omnibase_infra.runtime.service import InfraService
from omnibase_infra.settings import load_settings


async def test_sigint_stops_the_service_with_exit_code_0(service: ServiceProcess) -> None:
    service.start()
    await service.wait_ready()

    code, _ = service.stop(signal.SIGINT)

    assert code == 0, service.log_tail()
    assert "service stopped" in service.log_text()


class RelayCrash(RuntimeError):
    """What the replaced outbox relay raises."""


async def test_a_crashed_task_stops_the_service_in_order_and_run_returns_1(
    service: ServiceProcess,
    kafka_bootstrap: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(service.env)
    infra = InfraService(settings, load_contract_set(settings.extra_contract_paths))
    relay_started = asyncio.Event()
    crash_now = asyncio.Event()

    async def crashing_relay(runner: object, name: str, stopping: asyncio.Event, **_: object) -> None:
        relay_started.set()
        await crash_now.wait()
        raise RelayCrash("outbox row with an impossible status")

    # The outbox relay workflow (trigger: repeat) runs in a task of its own: make it crash.
    monkeypatch.setattr(service_module, "run_repeating", crashing_relay)
    store_topic = service.env["ONEX_EVENT_STORE_TOPICS"]
    caplog.set_level(logging.INFO, logger="omnibase_infra")

    running = asyncio.create_task(infra.run())
    await asyncio.wait_for(relay_started.wait(), 60)
    await service.wait_ready()
    # Work goes on until the crash, and what was consumed is stored and committed.
    envelopes = [make_envelope({"n": i}) for i in range(20)]
    await produce(kafka_bootstrap, store_topic, [encode(e) for e in envelopes])
    async with infra.components.database.acquire_connection() as conn:
        for _ in range(300):
            if await conn.fetchval("SELECT count(*) FROM onex_event_store") == len(envelopes):
                break
            await asyncio.sleep(0.1)
        assert await conn.fetchval("SELECT count(*) FROM onex_event_store") == len(envelopes)

    crash_now.set()
    code = await asyncio.wait_for(running, 120)

    assert code == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    crash = [r for r in errors if "outbox_relay" in r.getMessage() and "crashed" in r.getMessage()]
    assert crash, [r.getMessage() for r in errors]
    assert "RelayCrash: outbox row with an impossible status" in crash[0].getMessage()
    assert crash[0].exc_info is not None and isinstance(crash[0].exc_info[1], RelayCrash)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("service stopped after task outbox_relay crashed") for m in messages)
    assert not infra.components.database.started, "the pool was closed in the orderly shutdown"
    publisher = infra.components.event_publisher
    assert publisher is not None and publisher.events_queued == 0
    # The batches stored before the crash were committed: a restart does not take them again.
    group = service.env["KAFKA_CONSUMER_GROUP"]
    committed = await committed_offsets(kafka_bootstrap, group, store_topic, 3)
    assert sum(v or 0 for v in committed.values()) == len(envelopes), committed
