"""``onex-infra health [--url URL] [--json] [--timeout S]``: a running service's /health/detailed.

Prints the overall status, each component (PostgreSQL pool and server, Kafka brokers and
producer pool), each circuit breaker and the performance counters. ``--json`` prints
the body exactly as the service sent it. Exit 0 when the service says healthy or
degraded, 1 when it says unhealthy or cannot be reached (or does not answer JSON).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import cast

from omnibase_infra.cli.console import Console
from omnibase_infra.cli.http_client import Fetch, ServiceUnreachable, fetch, service_url

HEALTH_PATH = "/health/detailed"
OK_STATUSES = ("healthy", "degraded")

Body = Mapping[str, object]


def _map(value: object) -> Body:
    return cast(Body, value) if isinstance(value, Mapping) else {}


def _num(value: object, fmt: str = "{}") -> str:
    return fmt.format(value) if isinstance(value, int | float) and not isinstance(value, bool) else "?"


def _postgres_lines(pg: Body) -> list[str]:
    pool = _map(pg.get("connection_pool"))
    perf = _map(pg.get("performance"))
    info = _map(pg.get("database_info"))
    lines = [
        f"pool {_num(pool.get('size'))}/{_num(pool.get('max_size'))} connections "
        f"({_num(pool.get('idle_connections'))} idle, min {_num(pool.get('min_size'))}) | "
        f"{_num(perf.get('total_queries'))} queries, avg "
        f"{_num(perf.get('average_response_time_ms'), '{:.1f}')} ms | "
        f"{_num(perf.get('failed_connections'))} failed connects, "
        f"{_num(perf.get('reconnect_count'))} reconnects"
    ]
    if info:
        version = str(info.get("version", "?")).split(" on ")[0]
        lines.append(
            f"{version} | schema {info.get('current_schema', '?')} | "
            f"{_num(info.get('active_connections'))} active connections"
        )
    return lines


def _kafka_lines(kafka: Body) -> list[str]:
    reachable = "brokers reachable" if kafka.get("brokers_reachable") else "brokers NOT reachable"
    pool = _map(kafka.get("pool"))
    if not pool:
        return [reachable]
    return [
        f"{reachable} | producers {_num(pool.get('total_producers'))} "
        f"({_num(pool.get('active_producers'))} active, {_num(pool.get('idle_producers'))} idle, "
        f"{_num(pool.get('failed_producers'))} failed; pool {_num(pool.get('min_pool_size'))}-"
        f"{_num(pool.get('max_pool_size'))}) | {_num(pool.get('total_messages_sent'))} sent, "
        f"{_num(pool.get('total_messages_failed'))} failed | "
        f"{_num(pool.get('average_throughput_mps'), '{:.2f}')} msg/s, avg "
        f"{_num(pool.get('average_response_time_ms'), '{:.1f}')} ms"
    ]


def _breaker_line(breaker: Body) -> str:
    rate = breaker.get("success_rate")
    parts = [
        f"success {_num(rate * 100 if isinstance(rate, int | float) else None, '{:.1f}')}%",
        f"{_num(breaker.get('successful_calls'))} ok, {_num(breaker.get('failed_calls'))} failed, "
        f"{_num(breaker.get('ignored_calls'))} ignored, {_num(breaker.get('not_permitted_calls'))} rejected",
        f"{_num(breaker.get('events_queued'))} queued, {_num(breaker.get('events_spilled'))} spilled",
        f"{_num(breaker.get('transitions'))} transitions",
    ]
    retry = breaker.get("seconds_until_half_open")
    if isinstance(retry, int | float):
        parts.insert(0, f"half-open in {retry:.1f} s")
    return " | ".join(parts)


def render(console: Console, url: str, body: Body) -> None:
    """The readable form of a /health/detailed body (tolerant of missing fields)."""
    overall = str(body.get("overall", "unknown"))
    console.line(
        f"{console.style('service', 'bold')} {url}: {console.word(overall)} "
        f"(environment {body.get('environment', '?')}, at {body.get('timestamp', '?')})"
    )
    if "error" in body:
        error_id = body.get("error_id")
        console.line(f"  {body['error']}" + (f" (error id {error_id})" if error_id else ""))
    components = (
        ("postgres", _map(body.get("postgres_metrics")), _postgres_lines),
        ("kafka", _map(body.get("kafka_metrics")), _kafka_lines),
    )
    shown = [(name, data, describe) for name, data, describe in components if data]
    if shown:
        console.line(console.style("Components", "bold"))
    for name, data, describe in shown:
        status = str(data.get("status", "unknown"))
        lines = describe(data)
        console.line(f"  {name:<10} {console.word(status, 10)} {lines[0]}")
        for extra in lines[1:]:
            console.line(f"  {'':<10} {'':<10} {extra}")
        if data.get("error"):
            console.line(f"  {'':<10} {'':<10} error: {data['error']}")
    breakers = body.get("circuit_breaker_metrics")
    if isinstance(breakers, list) and breakers:
        console.line(console.style("Circuit breakers", "bold"))
        for item in breakers:
            breaker = _map(item)
            state = str(breaker.get("state", "unknown"))
            name = str(breaker.get("name", "?"))
            console.line(f"  {name:<10} {console.word(state, 10)} {_breaker_line(breaker)}")
    performance = _map(body.get("performance"))
    if performance:
        console.line(console.style("Performance", "bold"))
        console.line(
            f"  connections {_num(performance.get('total_connections'))} | messages processed "
            f"{_num(performance.get('total_messages_processed'))} | error rate "
            f"{_num(performance.get('error_rate_percent'), '{:.2f}')}%"
        )


def read_health(url: str, timeout: float, fetcher: Fetch = fetch) -> tuple[int, str, Body | None]:
    """(HTTP status, raw text, parsed body or ``None``); raises ``ServiceUnreachable``."""
    reply = fetcher("GET", url + HEALTH_PATH, {"Accept": "application/json"}, timeout)
    parsed = reply.json()
    return reply.status, reply.text, _map(parsed) if isinstance(parsed, Mapping) else None


def run_health(args: argparse.Namespace, fetcher: Fetch = fetch) -> int:
    """Print the service's health; 0 healthy/degraded, 1 unhealthy or unreachable."""
    console = Console()
    url = service_url(args.url)
    try:
        status, text, body = read_health(url, float(args.timeout), fetcher)
    except ServiceUnreachable as exc:
        if args.json:
            console.json({"overall": "unreachable", "url": url, "error": exc.reason})
        console.error(
            f"{exc}; is `onex-infra run` serving HEALTH_CHECK_PORT there? (--url to point elsewhere)"
        )
        return 1
    if body is None:
        if args.json:
            console.json({"overall": "unknown", "url": url, "http_status": status})
        console.error(f"{url}{HEALTH_PATH} answered HTTP {status} without a JSON health body")
        return 1
    if args.json:
        console.line(text.rstrip("\n"))
    else:
        render(console, url, body)
    return 0 if body.get("overall") in OK_STATUSES else 1


__all__ = ["HEALTH_PATH", "read_health", "render", "run_health"]
