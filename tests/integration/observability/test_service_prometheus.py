"""Debian's Prometheus scrapes the running service and finds every metric its assets name.

The real service (``onex-infra run``) serves ``/metrics`` on its PROMETHEUS_METRICS_PORT;
Prometheus runs with ``monitoring/prometheus.yml`` re-targeted at that port (1 s intervals)
and ``monitoring/alerts.yml``. Before Prometheus starts, the service is given one of each
kind of work — an event-store envelope, a command (its reply is published) and an
undecodable record (dead-lettered) — so that the series that only exist once work happened
(batch sizes, DLQ records, publish latency...) exist too. Then, through Prometheus's HTTP
API: every ``omnibase_*`` name in alerts.yml and the Grafana dashboard has been scraped,
every series carries the ``environment`` label, every dashboard and alert expression
evaluates, every alert rule evaluates without error, and the only alert pending is the
DLQ one, for the topic whose record was dead-lettered.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from pathlib import Path

from prometheus_harness import (
    JOB,
    PrometheusRun,
    alert_expressions,
    dashboard_expressions,
    referenced_names,
    run_prometheus,
)
from service_harness import ServiceProcess, ServiceTopics, consume_all, encode, make_envelope, produce


async def test_prometheus_scrapes_every_referenced_metric_from_the_running_service(
    service: ServiceProcess, service_topics: ServiceTopics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    service.start()
    await service.wait_ready()
    await produce(
        kafka_bootstrap,
        service_topics.store,
        [encode(make_envelope({"order": 1})), b"not an envelope"],
        partitions=3,
    )
    command = make_envelope({"operation": "count_events_by_type", "parameters": {}})
    await produce(kafka_bootstrap, service_topics.command, [encode(command)])
    replies, dead = await asyncio.gather(
        consume_all(kafka_bootstrap, service_topics.completed, expect=1, within=30),
        consume_all(kafka_bootstrap, f"{service_topics.store}.dlq", expect=1, within=30),
    )
    assert (len(replies), len(dead)) == (1, 1)

    async with run_prometheus(f"127.0.0.1:{service.metrics_port}", tmp_path) as prometheus:
        await prometheus.wait_for_scrape()
        missing = await prometheus.wait_for_names(referenced_names())
        assert not missing, f"named by alerts.yml/dashboard, not exported: {sorted(missing)}"

        assert {"process_resident_memory_bytes", "process_open_fds", "process_max_fds"} <= referenced_names()
        (build,) = await prometheus.query(f'omnibase_build_info{{job="{JOB}"}}')
        assert build["metric"]["version"] == version("omnibase_infra")  # type: ignore[index]
        assert build["metric"]["omnibase_core_version"] == version("omnibase-core")  # type: ignore[index]
        assert build["value"][1] == "1"  # type: ignore[index]
        assert await prometheus.query(f'process_resident_memory_bytes{{job="{JOB}"}} > 0')
        assert await prometheus.query('python_info{implementation="CPython"}')

        (health,) = await prometheus.query(f'omnibase_infrastructure_health{{job="{JOB}"}}')
        assert health["metric"]["environment"] == "development"  # type: ignore[index]
        assert health["value"][1] == "1"  # type: ignore[index]
        assert await prometheus.query('{__name__=~"omnibase_.+", environment=""}') == []
        (dlq,) = await prometheus.query("omnibase_dlq_records_total")
        assert dlq["metric"]["topic"] == service_topics.store  # type: ignore[index]
        assert dlq["value"][1] == "1"  # type: ignore[index]
        for workflow in ("event_store", "operations"):
            assert await prometheus.query(f'omnibase_messages_processed_total{{workflow="{workflow}"}} > 0')

        for expr in dashboard_expressions() + alert_expressions():
            await prometheus.query(expr)  # a parse or matching error fails the test

        await prometheus.wait_for_rule_evaluation()
        pending = await _wait_for_alerts(prometheus, {"DeadLetterQueueGrowing"})
        assert [a["metric"]["topic"] for a in pending] == [service_topics.store]  # type: ignore[index]
    code, _ = service.stop()
    assert code == 0


async def _wait_for_alerts(
    prometheus: PrometheusRun, names: set[str], within: float = 15.0
) -> list[dict[str, object]]:
    """Wait until exactly the alerts ``names`` are pending or firing; return their series."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        alerts = await prometheus.query("ALERTS")
        active = {str(a["metric"]["alertname"]) for a in alerts}  # type: ignore[index]
        if active == names or asyncio.get_running_loop().time() > deadline:
            assert active == names, alerts
            return alerts
        await asyncio.sleep(0.5)
