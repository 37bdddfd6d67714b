"""Demo traffic: sample envelopes for the event store, operation commands, and their replies.

``python -m omnibase_infra.demo.producer [--rate R] [--count N] [--command-every K]``

Publishes sample ONEX envelopes (an order's life: created, paid, shipped; one correlation
id per order) to the event-store topic, and every K envelopes one command naming an
exposed operation of the postgres_adapter contract (``count_events_by_type``,
``list_events_by_correlation``, ``enqueue_outbox_event`` - whose row the outbox relay
then publishes to the event-store topic - and ``count_outbox_by_status``) to the command
topic, printing each reply from the completed/failed topics as it arrives.

The topics are the service's own, resolved from the contracts and the same environment
overrides (ONEX_EVENT_STORE_TOPICS, ONEX_COMMAND_TOPIC, ...). Stops on SIGINT/SIGTERM, or
after N envelopes once the outstanding replies arrived (or ``--reply-timeout`` passed);
exits 0, 3 on a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import sys
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from omnibase_infra.errors import ConfigurationError, ContractError

if TYPE_CHECKING:
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
    from pydantic import JsonValue

    Envelope = ModelEventEnvelope[JsonValue]

COMMAND_EVENT_TYPE = "onex.postgres.operation.requested"
_STEPS = ("demo.order.created", "demo.order.paid", "demo.order.shipped")


def _envelope(payload: dict[str, JsonValue], event_type: str, correlation_id: uuid.UUID) -> Envelope:
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
    from pydantic import JsonValue

    return ModelEventEnvelope[JsonValue](
        payload=payload, event_type=event_type, correlation_id=correlation_id
    )


def _wire(envelope: Envelope) -> bytes:
    return envelope.model_dump_json(exclude_none=True).encode("utf-8")


def sample_events() -> Iterator[tuple[str, Envelope]]:
    """(key, envelope) forever: each order goes created → paid → shipped under one correlation id."""
    for number in itertools.count(1):
        order_id = f"order-{number:05d}"
        correlation_id = uuid.uuid4()
        for step, event_type in enumerate(_STEPS):
            payload: dict[str, JsonValue] = {
                "order_id": order_id,
                "amount_cents": 1000 + 37 * number,
                "step": step,
            }
            yield order_id, _envelope(payload, event_type, correlation_id)


def command(operation: str, parameters: dict[str, JsonValue]) -> Envelope:
    return _envelope({"operation": operation, "parameters": parameters}, COMMAND_EVENT_TYPE, uuid.uuid4())


def next_command(
    turn: int, store_topic: str, last_correlation: uuid.UUID | None
) -> tuple[str, dict[str, JsonValue]]:
    """(operation, parameters) of the turn-th command of the cycle (see the module docstring)."""
    kind = turn % 4
    if kind == 0:
        return "count_events_by_type", {}
    if kind == 1 and last_correlation is not None:
        return "list_events_by_correlation", {"correlation_id": str(last_correlation), "limit": 10}
    if kind == 2:
        note = _envelope(
            {"note": f"queued through the outbox (turn {turn})"}, "demo.outbox.note", uuid.uuid4()
        )
        payload = note.model_dump_json(exclude_none=True)
        return "enqueue_outbox_event", {"topic": store_topic, "key": "demo-outbox", "payload": payload}
    return "count_outbox_by_status", {}


def describe_reply(payload: dict[str, Any]) -> str:
    """One line for a reply payload (``ModelOperationReply``)."""
    operation = payload.get("operation", "?")
    if payload.get("status") != "completed":
        error = payload.get("error") or {}
        return f"{operation}: FAILED {error.get('kind', '?')}: {error.get('message', '')}"
    rows: list[dict[str, Any]] = payload.get("rows") or []
    if operation == "count_events_by_type":
        counts = ", ".join(f"{r.get('event_type')}={r.get('events')}" for r in rows)
        return f"{operation}: {counts or 'no events stored yet'}"
    if operation == "list_events_by_correlation":
        types = ", ".join(str(r.get("event_type", "?")).rsplit(".", 1)[-1] for r in rows)
        return f"{operation}: {len(rows)} stored for this order ({types})"
    if operation == "enqueue_outbox_event":
        return f"{operation}: outbox row {rows[0].get('id') if rows else '?'} queued for the relay"
    if operation == "count_outbox_by_status":
        counts = ", ".join(f"{r.get('status')}={r.get('row_count')}" for r in rows)
        return f"{operation}: {counts or 'outbox empty'}"
    return f"{operation}: {payload.get('row_count', len(rows))} row(s)"


class Demo:
    """Producer, reply reader and counters of one demo run."""

    def __init__(self, args: argparse.Namespace) -> None:
        from omnibase_infra.contract_validation.loader import load_contract_set
        from omnibase_infra.nodes.group_gateway.v1_0_0.topology import resolve_topology
        from omnibase_infra.settings import load_settings

        self.settings = load_settings()
        self.topology = resolve_topology(load_contract_set(self.settings.extra_contract_paths), self.settings)
        self.args = args
        self.pending: dict[str, str] = {}  # request envelope_id -> operation
        self.sent = self.commands = self.replies = 0
        self.stop = asyncio.Event()
        self.answered = asyncio.Event()  # set whenever no reply is outstanding

    def _client(self) -> dict[str, Any]:
        from omnibase_infra.nodes.kafka_adapter.v1_0_0.kafka_consumer import security_kwargs

        return {
            "bootstrap_servers": self.settings.kafka_bootstrap_servers,
            **security_kwargs(self.settings.kafka_security),
        }

    async def run(self) -> int:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # type: ignore[import-untyped]

        store = self.topology.event_store_topics[0]
        command_topic = self.topology.command_topics[0]
        reply_topics = (self.topology.operation_completed_topic, self.topology.operation_failed_topic)
        producer: Any = AIOKafkaProducer(client_id="onex-demo", acks="all", linger_ms=5, **self._client())
        consumer: Any = AIOKafkaConsumer(group_id=None, client_id="onex-demo-replies", **self._client())
        await producer.start()
        await consumer.start()
        try:
            # Asking the producer for partitions creates missing reply topics (broker auto-create),
            # and positions fixed at their ends before the first command mean no reply is missed.
            partitions = [
                TopicPartition(topic, p)
                for topic in reply_topics
                for p in await producer.partitions_for(topic)
            ]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)
            print(
                f"demo: events -> {store}, commands -> {command_topic}, replies <- {', '.join(reply_topics)}"
            )
            reader = asyncio.create_task(self._read_replies(consumer))
            try:
                await self._produce(producer, store, command_topic)
                await self._drain()
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        finally:
            await producer.stop()
            await consumer.stop()
        print(f"demo: sent {self.sent} events and {self.commands} commands, got {self.replies} replies")
        return 0

    async def _produce(self, producer: Any, store: str, command_topic: str) -> None:
        interval = 1.0 / self.args.rate
        last_correlation: uuid.UUID | None = None
        turn = 0
        for key, envelope in sample_events():
            if self.stop.is_set() or (self.args.count and self.sent >= self.args.count):
                return
            await producer.send_and_wait(store, _wire(envelope), key=key.encode())
            self.sent += 1
            last_correlation = envelope.correlation_id
            if self.sent % self.args.command_every == 0:
                operation, parameters = next_command(turn, store, last_correlation)
                request = command(operation, parameters)
                turn += 1
                self.pending[str(request.envelope_id)] = operation
                self.answered.clear()
                await producer.send_and_wait(command_topic, _wire(request))
                self.commands += 1
            if self.sent % 25 == 0:
                print(f"demo: {self.sent} events sent to {store}", flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), interval)

    async def _drain(self) -> None:
        if self.pending:
            waiters = [asyncio.ensure_future(self.answered.wait()), asyncio.ensure_future(self.stop.wait())]
            await asyncio.wait(waiters, timeout=self.args.reply_timeout, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        for operation in self.pending.values():
            print(f"demo: no reply to {operation} within {self.args.reply_timeout:g} s", flush=True)

    async def _read_replies(self, consumer: Any) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    self._on_reply(record.value)

    def _on_reply(self, value: bytes | None) -> None:
        try:
            reply = json.loads(value or b"")
        except ValueError:
            return
        parent = str(reply.get("parent_envelope_id"))
        if parent not in self.pending:
            return  # a reply to someone else's command
        self.pending.pop(parent)
        if not self.pending:
            self.answered.set()
        self.replies += 1
        print(f"reply  {describe_reply(reply.get('payload') or {})}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m omnibase_infra.demo.producer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rate", type=float, default=2.0, help="events per second (default 2)")
    parser.add_argument(
        "--count", type=int, default=0, help="stop after N events (default: run until stopped)"
    )
    parser.add_argument("--command-every", type=int, default=6, metavar="K", help="one command per K events")
    parser.add_argument(
        "--reply-timeout", type=float, default=30.0, metavar="S", help="wait for replies at the end"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.command_every <= 0 or args.count < 0:
        parser.error("--rate and --command-every must be positive, --count not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    from omnibase_infra.cli.console import quiet_library_logs

    args = parse_args(argv)
    quiet_library_logs()  # e.g. aiokafka's "topic not found" while a reply topic is being created
    try:
        demo = Demo(args)
    except (ConfigurationError, ContractError) as exc:
        print(f"demo: configuration error: {exc}", file=sys.stderr)
        return 3

    async def run() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, demo.stop.set)
        return await demo.run()

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
