"""Case 7: the peer — Kafka Connect standalone with the Debezium JDBC sink, same data, same server.

Jars come from Maven Central (``mvn dependency:copy-dependencies``) into the bench state
dir: ``org.apache.kafka:connect-runtime/connect-json/connect-file`` at the broker's
version, and ``io.debezium:debezium-connector-jdbc`` as an isolated plugin. The sink needs
schema'd records, so it reads its own copy of the rows written as Connect JSON-with-schema
(``workload.peer_values``); it upserts on ``envelope_id`` (its idempotent mode, the
counterpart of our ``ON CONFLICT DO NOTHING``) into a table of the event store's shape.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from omnibase_infra.bench.cpu import MachineCpu, process_cpu_seconds
from omnibase_infra.bench.environment import Servers
from omnibase_infra.bench.service_cases import free_port, proc_status
from omnibase_infra.bench.workload import Progress

CONNECT_VERSION = "3.9.1"
DEBEZIUM_VERSION = "3.4.0.Final"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
PEER_TABLE = "bench_peer_events"


class PeerUnavailable(Exception):
    """The peer could not be set up; the message says exactly why (command and output)."""


# The plugin must use the Connect runtime's Jackson: with a second copy in the plugin, the
# runtime's Jackson modules (found through ServiceLoader) are "not a subtype" of the plugin's
# Module class and the sink task dies at start.
PLUGIN_EXCLUSIONS = ("com.fasterxml.jackson.core", "com.fasterxml.jackson.datatype")


def _pom(artifact: str, dependencies: list[tuple[str, str, str]], exclusions: tuple[str, ...] = ()) -> str:
    excluded = "".join(
        f"<exclusion><groupId>{g}</groupId><artifactId>*</artifactId></exclusion>" for g in exclusions
    )
    wrapped = f"<exclusions>{excluded}</exclusions>" if excluded else ""
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>"
        f"{wrapped}</dependency>"
        for g, a, v in dependencies
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        f"  <modelVersion>4.0.0</modelVersion>\n  <groupId>local.bench</groupId><artifactId>{artifact}"
        "</artifactId><version>1</version><packaging>pom</packaging>\n"
        f"  <dependencies>\n{deps}\n  </dependencies>\n</project>\n"
    )


def _fetch(
    folder: Path,
    artifact: str,
    dependencies: list[tuple[str, str, str]],
    progress: Progress,
    exclusions: tuple[str, ...] = (),
) -> Path:
    libs = folder / "libs"
    stamp = folder / ".complete"
    wanted = repr((dependencies, exclusions))
    if stamp.exists() and stamp.read_text() == wanted:
        return libs
    if shutil.which("mvn") is None:
        raise PeerUnavailable("mvn not found (apt-get install maven)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pom.xml").write_text(_pom(artifact, dependencies, exclusions))
    shutil.rmtree(libs, ignore_errors=True)
    command = [
        "mvn",
        "-q",
        "-B",
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime",
        "-DoutputDirectory=libs",
    ]
    progress(f"7 peer: fetching {artifact} jars from Maven Central")
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise PeerUnavailable(f"`{' '.join(command)}` in {folder} exited {done.returncode}:\n{tail}")
    stamp.write_text(wanted)
    return libs


@dataclass(frozen=True)
class PeerJars:
    connect_libs: Path
    plugin_path: Path


def fetch_jars(cache: Path, progress: Progress) -> PeerJars:
    connect = _fetch(
        cache / "connect",
        "connect",
        [
            ("org.apache.kafka", "connect-runtime", CONNECT_VERSION),
            ("org.apache.kafka", "connect-json", CONNECT_VERSION),
            ("org.apache.kafka", "connect-file", CONNECT_VERSION),
            ("org.slf4j", "slf4j-reload4j", "1.7.36"),
            ("ch.qos.reload4j", "reload4j", "1.2.25"),
        ],
        progress,
    )
    plugin = _fetch(
        cache / "plugins" / "debezium-connector-jdbc",
        "plugin",
        [
            ("io.debezium", "debezium-connector-jdbc", DEBEZIUM_VERSION),
        ],
        progress,
        PLUGIN_EXCLUSIONS,
    )
    return PeerJars(connect, plugin.parent.parent)


def _properties(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


async def run_peer(
    servers: Servers, schema: str, topic: str, count: int, jars: PeerJars, work: Path, progress: Progress
) -> dict[str, float]:
    """Start Connect + the sink on the pre-loaded ``topic``; time start → last row committed."""
    conn = await asyncpg.connect(servers.dsn)
    try:
        await conn.execute(
            f'CREATE TABLE "{schema}".{PEER_TABLE} (LIKE "{schema}".onex_event_store INCLUDING ALL)'
        )
    finally:
        await conn.close()
    machine = MachineCpu()
    proc, command, started = await asyncio.to_thread(_launch, servers, schema, topic, jars, work)
    rss_max = 0
    try:
        conn = await asyncpg.connect(servers.dsn, server_settings={"search_path": schema})
        try:
            deadline = time.monotonic() + 180 + count / 500
            rows = 0
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise PeerUnavailable(f"`{' '.join(command)}` exited {proc.returncode}:\n{_tail(work)}")
                if _task_died(work):
                    raise PeerUnavailable(f"the sink task died:\n{_tail(work)}")
                rss_max = max(rss_max, proc_status(proc.pid).get("VmRSS", 0))
                rows = int(await conn.fetchval(f"SELECT count(*) FROM {PEER_TABLE}"))
                if rows >= count:
                    break
                progress(f"7 peer: {rows:,}/{count:,} rows")
                await asyncio.sleep(2.0)
            if rows < count:
                raise PeerUnavailable(
                    f"peer wrote {rows:,}/{count:,} rows before the deadline:\n{_tail(work)}"
                )
            cpu = process_cpu_seconds(proc.pid)
            machine_figures = machine.figures(count)
            stats = await conn.fetchrow(
                "SELECT extract(epoch FROM min(pg_xact_commit_timestamp(xmin))) AS first, "
                f"extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) AS last FROM {PEER_TABLE}"
            )
        finally:
            await conn.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    assert stats is not None
    if stats["last"] is None:
        raise PeerUnavailable("no commit timestamps (track_commit_timestamp is off)")
    first, last = float(stats["first"]), float(stats["last"])
    return {
        "events": float(count),
        "seconds": last - started,
        "events_per_s": count / (last - started),
        "startup_to_first_commit_s": first - started,
        "steady_events_per_s": count / (last - first) if last > first else 0.0,
        "cpu_s": cpu,
        "cpu_us_per_event": cpu / count * 1e6,
        **machine_figures,
        "rss_max_mib": rss_max / 1024,
    }


def _launch(
    servers: Servers, schema: str, topic: str, jars: PeerJars, work: Path
) -> tuple[subprocess.Popen[bytes], list[str], float]:
    """Write the worker and connector configuration and start Connect; (process, command, start time)."""
    env = servers.env
    work.mkdir(parents=True, exist_ok=True)
    worker = work / "worker.properties"
    connector = work / "jdbc-sink.properties"
    log4j = work / "log4j.properties"
    log = work / "connect.log"
    worker.write_text(
        _properties(
            {
                "bootstrap.servers": servers.bootstrap,
                "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "true",
                "offset.storage.file.filename": str(work / "offsets"),
                "plugin.path": str(jars.plugin_path),
                "listeners": f"http://127.0.0.1:{free_port()}",
            }
        )
    )
    url = (
        f"jdbc:postgresql://{env['POSTGRES_HOST']}:{env.get('POSTGRES_PORT', '5432')}/"
        f"{env['POSTGRES_DATABASE']}?stringtype=unspecified&currentSchema={schema}"
    )
    connector.write_text(
        _properties(
            {
                "name": f"bench-jdbc-sink-{schema}",
                "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
                "tasks.max": "1",
                "topics": topic,
                "connection.url": url,
                "connection.username": env["POSTGRES_USER"],
                "connection.password": env.get("POSTGRES_PASSWORD", ""),
                "insert.mode": "upsert",
                "delete.enabled": "false",
                "primary.key.mode": "record_value",
                "primary.key.fields": "envelope_id",
                "schema.evolution": "none",
                "quote.identifiers": "true",
                "collection.name.format": PEER_TABLE,
                "consumer.override.auto.offset.reset": "earliest",
            }
        )
    )
    log4j.write_text(
        "log4j.rootLogger=INFO, file\nlog4j.appender.file=org.apache.log4j.FileAppender\n"
        f"log4j.appender.file.File={log}\nlog4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )
    command = [
        "java",
        "-Xms256m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        f"-Dlog4j.configuration=file:{log4j}",
        "-cp",
        f"{jars.connect_libs}/*",
        "org.apache.kafka.connect.cli.ConnectStandalone",
        str(worker),
        str(connector),
    ]
    started = time.time()
    with (work / "connect.out").open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=work)
    return proc, command, started


def _task_died(work: Path) -> bool:
    log = work / "connect.log"
    return log.exists() and "Task is being killed" in log.read_text(errors="replace")


def _tail(work: Path) -> str:
    lines: list[str] = []
    for name in ("connect.out", "connect.log"):
        path = work / name
        if path.exists():
            lines += [
                f"--- {name}",
                *[
                    line
                    for line in path.read_text(errors="replace").splitlines()
                    if "ERROR" in line or "Exception" in line
                ][-10:],
            ]
    return "\n".join(lines)
