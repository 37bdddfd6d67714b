"""``scripts/bench``: run every case on the same data, print a table, write bench-results/<ts>.json.

The cases and their options: ``options`` (``scripts/bench --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from omnibase_infra.bench import (
    ceilings,
    environment,
    operation_cases,
    outbox_cases,
    peer,
    profiling,
    rate_cases,
    report,
    scale_out,
    service_cases,
    workload,
)
from omnibase_infra.bench.cpu import ServerPids
from omnibase_infra.bench.options import parse_args


class Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def progress(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {message}", flush=True)


def _contract_settings(environment_name: str) -> tuple[dict[str, Any], int, int]:
    """The service's values, as ``onex-infra run`` resolves them: the contracts with the overlay
    (``ONEX_CONFIG_FILE``) and the contract-value variables of this environment applied."""
    from omnibase_infra.contract_validation.effective_config import resolve_configuration
    from omnibase_infra.contract_validation.loader import load_contract_set
    from omnibase_infra.environment import EnumEnvironment
    from omnibase_infra.settings import load_tuning_variables

    tuning = load_tuning_variables()
    contracts = resolve_configuration(
        load_contract_set([]),
        EnumEnvironment(environment_name),
        overlay_file=tuning.config_file,
        variables=tuning.values,
    ).contracts
    consumer = contracts.node("kafka_adapter").kafka_consumer(environment_name)
    batch = contracts.node("message_aggregator").batching(environment_name).batch_size
    write_connections = contracts.node("postgres_adapter").postgres_pool(environment_name).write_connections
    settings = {
        "auto_offset_reset": consumer.auto_offset_reset,
        "isolation_level": consumer.isolation_level,
        "max_poll_records": consumer.max_poll_records,
        "fetch_max_wait_ms": consumer.fetch_max_wait_ms,
        "max_partition_fetch_bytes": consumer.max_partition_fetch_bytes,
    }
    return settings, batch, write_connections


def _server_pids(servers: environment.Servers) -> ServerPids | None:
    """The broker's and PostgreSQL's pids, for the bench's own servers only (local, and named by
    ``scripts/services status``); None otherwise, and the cases then leave their CPU out."""
    if not servers.managed:
        return None
    try:
        return ServerPids.from_status(environment.services(["status"], servers.env))
    except subprocess.CalledProcessError:
        return None


async def _run(args: argparse.Namespace, clock: Clock) -> dict[str, Any]:  # noqa: PLR0915  # one linear script
    say = clock.progress
    if args.use_env_servers:
        servers = environment.env_servers(args.state_dir)
    else:
        say(f"starting the bench's own servers in {args.state_dir} (scripts/services)")
        servers = environment.start_own_servers(
            args.state_dir, args.postgres_port, args.kafka_port, args.kafka_controller_port
        )
    commit_ts = await environment.ensure_commit_timestamps(servers)  # may restart PostgreSQL
    server_pids = _server_pids(servers)
    say(
        "row commit time: "
        + ("pg_xact_commit_timestamp(xmin)" if commit_ts else "stored_at (transaction start)")
    )
    run = uuid.uuid4().hex[:8]
    schema = f"bench_{run}"
    name = f"onex.evt.bench.{run}"
    topics = service_cases.BenchTopics(
        store=f"{name}-store.v1",
        latency=f"{name}-latency.v1",
        command=f"onex.cmd.bench.{run}-ops.v1",
        completed=f"{name}-completed.v1",
        failed=f"{name}-failed.v1",
        state=f"{name}-state.v1",
        outbox=f"{name}-outbox.v1",
        floor=f"{name}-floor.v1",
        latency_high=f"{name}-latency-high.v1",
        floor_high=f"{name}-floor-high.v1",
    )
    peer_topic = f"{name}-peer.v1"
    consumer_settings, batch_size, write_connections = _contract_settings(args.environment)
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": environment.machine(),
        "versions": await environment.versions(servers),
        "parameters": {
            "events": args.events,
            "partitions": args.partitions,
            "instances": args.instances,
            "environment": args.environment,
            "service_batch_size": batch_size,
            "service_write_connections": write_connections,
            "consumer": consumer_settings,
            "copy_chunk": args.copy_chunk,
            "latency_rate": args.latency_rate,
            "latency_high_rate": args.latency_high_rate,
            "latency_seconds": args.latency_seconds,
            "ops_rate": args.ops_rate,
            "ops_seconds": args.ops_seconds,
            "ops_window": args.ops_window,
            "outbox_rows": args.outbox_rows,
            "outbox_keys": args.outbox_keys,
            "soak_seconds": args.soak_seconds,
            "cases": sorted(args.case_set),
            "servers_managed": servers.managed,
            "commit_time": "pg_xact_commit_timestamp" if commit_ts else "stored_at",
        },
        "cases": {},
        "errors": {},
    }
    cases: dict[str, Any] = result["cases"]
    work = args.state_dir / "runs" / run
    work.mkdir(parents=True, exist_ok=True)
    group = f"onex-bench-{run}"
    service = service_cases.ServiceProcess.create(
        servers.env, schema, topics, group, work / "service.log", args.environment
    )
    service.migrate()
    if not environment.compile_package():
        say("bytecode: compileall reported errors; the service compiles those modules at each start")
    await workload.create_topics(
        servers.bootstrap,
        {
            topics.store: args.partitions,
            topics.latency: args.partitions,
            topics.command: 1,
            topics.completed: 1,
            topics.failed: 1,
            topics.state: 1,
            topics.outbox: args.partitions,
            topics.floor: args.partitions,
            topics.latency_high: args.partitions,
            topics.floor_high: args.partitions,
            **({peer_topic: args.partitions} if "peer" in args.case_set else {}),
        },
    )
    say(f"generating {args.events:,} envelopes")
    data = workload.make_dataset(topics.store, args.events, args.partitions)
    result["parameters"]["envelope_mean_bytes"] = round(data.mean_bytes, 1)
    rate = await workload.produce(servers.bootstrap, topics.store, data.values, args.partitions, say)
    say(f"pre-loaded {args.events:,} envelopes ({data.mean_bytes:.0f} B mean) at {rate:,.0f}/s")

    async def case(key: str, label: str, body: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        say(f"{label} ...")
        # The machine may be shared: the 1-minute load average before and after each case
        # tells how much else was running (2 cores: above 2 means queueing for a CPU).
        load_before = os.getloadavg()[0]
        try:
            cases[key] = await body()
            cases[key]["load_avg_before"] = round(load_before, 2)
            cases[key]["load_avg_after"] = round(os.getloadavg()[0], 2)
            say(f"{label}: " + service_cases.summary_of(cases[key]))
        except Exception as exc:  # a failed case is reported, the others still run
            result["errors"][key] = f"{type(exc).__name__}: {exc}"
            say(f"{label} FAILED: {exc}")
            traceback.print_exc()

    jars: peer.PeerJars | None = None
    if "peer" in args.case_set:
        try:
            jars = peer.fetch_jars(args.state_dir / "peer", say)
            peer_values = workload.peer_values(data.rows)
            await workload.produce(servers.bootstrap, peer_topic, peer_values, args.partitions, say)
            del peer_values
        except peer.PeerUnavailable as exc:
            result["errors"]["7_peer"] = str(exc)
            say(f"7 peer unavailable: {exc}")
    try:
        if "ceilings" in args.case_set:
            await case(
                "1a_kafka_ceiling",
                "1a kafka ceiling",
                lambda: ceilings.kafka_ceiling(servers.bootstrap, data, consumer_settings, batch_size, say),
            )
            await case(
                "1b_copy_ceiling",
                "1b copy ceiling",
                lambda: ceilings.copy_ceiling(servers.dsn, schema, data, args.copy_chunk, say),
            )
        if "writer" in args.case_set:
            await case(
                "1c_writer_alone",
                "1c writer alone",
                lambda: ceilings.writer_alone(servers.dsn, schema, data, batch_size, write_connections, say),
            )
            if write_connections > 1:  # the same writer unsplit: what the split gains, same run
                await case(
                    "1c_writer_one_connection",
                    "1c writer alone, one connection",
                    lambda: ceilings.writer_alone(servers.dsn, schema, data, batch_size, 1, say),
                )
        if "scale" in args.case_set:
            await case(
                "2b_scale_out",
                f"2b event store, {args.instances} instances",
                lambda: scale_out.scale_out(
                    servers.env,
                    servers.dsn,
                    schema,
                    topics,
                    servers.bootstrap,
                    data,
                    commit_ts,
                    args.instances,
                    work,
                    args.environment,
                    say,
                ),
            )
        started_service = any(
            c in args.case_set for c in ("store", "latency", "operations", "outbox", "outbox_idle")
        )
        if started_service:
            if "store" in args.case_set:
                await case(
                    "2_event_store",
                    "2 event store",
                    lambda: service_cases.throughput(
                        service,
                        servers.dsn,
                        schema,
                        servers.bootstrap,
                        group,
                        data,
                        commit_ts,
                        say,
                        args.profile_seconds,
                        server_pids,
                    ),
                )
                profile = work / "profile.txt"
                if profile.exists():
                    result["profile_case_2"] = {"file": str(profile), **profiling.summarise(profile)}
            else:
                service.start()
                await asyncio.sleep(5)
            await asyncio.sleep(5)
            cases["6_memory_after_case_2"] = service_cases.rss_after(service)
            if "latency" in args.case_set:
                await case(
                    "3a_latency_floor",
                    "3a latency floor (Kafka only)",
                    lambda: rate_cases.kafka_latency_floor(
                        servers.bootstrap,
                        topics.floor,
                        args.partitions,
                        args.latency_rate,
                        args.latency_seconds,
                        say,
                    ),
                )
                await case(
                    "3_latency",
                    "3 latency",
                    lambda: rate_cases.latency(
                        service,
                        servers.dsn,
                        schema,
                        servers.bootstrap,
                        group,
                        topics.latency,
                        args.partitions,
                        args.latency_rate,
                        args.latency_seconds,
                        commit_ts,
                        say,
                    ),
                )
            if "latency" in args.case_set and args.latency_high_rate > 0:
                await case(
                    "3c_latency_floor_20k",
                    "3c latency floor (Kafka only), high rate",
                    lambda: rate_cases.kafka_latency_floor(
                        servers.bootstrap,
                        topics.floor_high,
                        args.partitions,
                        args.latency_high_rate,
                        args.latency_seconds,
                        say,
                        label="3c latency floor",
                    ),
                )
                await case(
                    "3b_latency_20k",
                    "3b latency, high rate",
                    lambda: rate_cases.latency(
                        service,
                        servers.dsn,
                        schema,
                        servers.bootstrap,
                        group,
                        topics.latency_high,
                        args.partitions,
                        args.latency_high_rate,
                        args.latency_seconds,
                        commit_ts,
                        say,
                        label="3b latency",
                        profile_seconds=args.profile_seconds,
                        profile_out=work / "profile-3b.txt",
                    ),
                )
                profile_3b = work / "profile-3b.txt"
                if profile_3b.exists():
                    result["profile_case_3b"] = {"file": str(profile_3b), **profiling.summarise(profile_3b)}
            if "operations" in args.case_set:
                ids = [r[0] for r in data.rows[:1000]]
                await case(
                    "4_operations",
                    "4 operations",
                    lambda: operation_cases.operations(
                        service, servers.bootstrap, topics, ids, args.ops_rate, args.ops_seconds, say
                    ),
                )
                ops_profile = work / "profile_4b.txt"
                await case(
                    "4b_operations_saturation",
                    "4b operations at saturation",
                    lambda: operation_cases.operations_saturation(
                        service,
                        servers.bootstrap,
                        topics,
                        ids,
                        args.ops_window,
                        args.ops_seconds,
                        say,
                        ops_profile,
                        args.ops_profile_seconds,
                        server_pids,
                    ),
                )
                if ops_profile.exists():
                    result["profile_case_4b"] = {"file": str(ops_profile), **profiling.summarise(ops_profile)}
            if "outbox" in args.case_set:
                await case(
                    "5_outbox",
                    "5 outbox relay",
                    lambda: outbox_cases.outbox(
                        service,
                        args.partitions,
                        servers.dsn,
                        schema,
                        servers.bootstrap,
                        topics.outbox,
                        args.outbox_rows,
                        args.outbox_keys,
                        commit_ts,
                        say,
                        args.profile_seconds if "store" not in args.case_set else 0.0,
                    ),
                )
                profile = work / "profile_outbox.txt"
                if profile.exists():
                    result["profile_case_5"] = {"file": str(profile), **profiling.summarise(profile)}
            if "outbox_idle" in args.case_set:
                await case(
                    "5b_outbox_idle_latency",
                    "5b outbox idle latency",
                    lambda: outbox_cases.outbox_idle_latency(
                        service,
                        servers.dsn,
                        schema,
                        topics.outbox,
                        args.outbox_idle_rows,
                        args.outbox_idle_gap_ms,
                        commit_ts,
                        say,
                    ),
                )
            if args.soak_seconds > 0:
                await case(
                    "6b_soak",
                    "6b memory soak",
                    lambda: rate_cases.soak(
                        service,
                        servers.bootstrap,
                        group,
                        topics.latency,
                        args.partitions,
                        args.latency_rate,
                        args.soak_seconds,
                        say,
                    ),
                )
            cases["6_memory_end"] = service_cases.rss_after(service)
            code, seconds = service.stop()
            cases["service_stop"] = {"exit_code": code, "seconds": round(seconds, 2)}
            result["memory_series_mib"] = service_cases.memory_series(service)
        if jars is not None:
            await case(
                "7_peer",
                "7 peer (Kafka Connect + Debezium JDBC sink)",
                lambda: peer.run_peer(servers, schema, peer_topic, args.events, jars, work / "peer", say),
            )
    finally:
        service.kill()
        if not args.keep:
            await _cleanup(servers, schema, topics, peer_topic)
    report.add_ratios(result)
    return result


async def _cleanup(
    servers: environment.Servers, schema: str, topics: service_cases.BenchTopics, peer_topic: str
) -> None:
    conn = await asyncpg.connect(servers.dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_w" CASCADE')
    finally:
        await conn.close()
    names = [*vars(topics).values(), peer_topic]
    with contextlib.suppress(Exception):  # some topics may not exist; deletion is best effort
        await workload.delete_topics(servers.bootstrap, names)


RECORDED_JSON = environment.REPO_ROOT / "docs" / "results" / "bench.json"
PERFORMANCE_DOC = environment.REPO_ROOT / "docs" / "performance.md"


def _record(result: dict[str, Any]) -> None:
    """Commit-ready copies: the JSON under docs/results/ and the table rendered from it."""
    RECORDED_JSON.parent.mkdir(parents=True, exist_ok=True)
    RECORDED_JSON.write_text(json.dumps(result, indent=2, default=str) + "\n")
    section = report.render_markdown(result, "results/bench.json")
    PERFORMANCE_DOC.write_text(report.replace_section(PERFORMANCE_DOC.read_text(), section))
    print(f"recorded: {RECORDED_JSON} and its table in {PERFORMANCE_DOC}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clock = Clock()
    result = asyncio.run(_run(args, clock))
    result["wall_seconds"] = round(time.monotonic() - clock.started, 1)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    given = argv if argv is not None else sys.argv[1:]
    result["command"] = "scripts/bench" + "".join(f" {a}" for a in given)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    report.print_table(result)
    print(f"results: {out}")
    if args.record:
        _record(result)
    return 1 if result["errors"] and not set(result["errors"]) <= {"7_peer"} else 0
