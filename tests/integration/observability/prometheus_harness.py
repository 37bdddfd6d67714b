"""Runs Debian's Prometheus with ``monitoring/prometheus.yml`` against one target, for tests.

``run_prometheus(target, workdir)`` derives the configuration from the shipped file: the
job's target is replaced by ``target``, the intervals are shortened to 1 s and the rule file
(``alerts.yml``) is loaded as is. It yields a ``PrometheusRun`` whose helpers query the HTTP
API. ``referenced_names()`` lists every ``omnibase_*`` name used by alerts.yml and the
Grafana dashboard.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[3] / "monitoring"
# The service's own metrics and the standard process/interpreter collectors it registers.
METRIC_NAME = re.compile(r"\b(?:omnibase|process|python)_[a-z_]+\b")
JOB = "omnibase-infrastructure"


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("prometheus is not installed: run scripts/install-prometheus", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alert_expressions() -> list[str]:
    alerts = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana" / "omnibase-infrastructure.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return [e.replace("$environment", ".*") for e in exprs]


def referenced_names() -> set[str]:
    return {
        name for expr in alert_expressions() + dashboard_expressions() for name in METRIC_NAME.findall(expr)
    }


def write_config(target: str, workdir: Path) -> Path:
    """``monitoring/prometheus.yml`` scraping ``target`` every second, with absolute rule paths."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == JOB]
    job["scrape_interval"] = "1s"
    job["scrape_timeout"] = "1s"
    job["static_configs"] = [{"targets": [target]}]
    config["rule_files"] = [str(MONITORING / name) for name in config["rule_files"]]
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


async def get_json(session: aiohttp.ClientSession, url: str, **params: str) -> dict[str, object]:
    """GET ``url`` and return the body; a non-200 answer (e.g. a PromQL error) fails."""
    async with session.get(url, params=params) as response:
        body: dict[str, object] = await response.json()
        assert response.status == 200, body
        return body


@dataclass
class PrometheusRun:
    """A running Prometheus: ``api`` is its ``/api/v1`` base URL."""

    process: asyncio.subprocess.Process
    session: aiohttp.ClientSession
    api: str
    log: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    async def query(self, expr: str) -> list[dict[str, object]]:
        """The instant vector (or scalar) of ``expr``; a PromQL error fails the test."""
        body = await get_json(self.session, f"{self.api}/query", query=expr)
        data = body["data"]
        assert isinstance(data, dict)
        result = data["result"]
        return result if isinstance(result, list) else [{"value": result}]

    async def names(self) -> set[str]:
        body = await get_json(self.session, f"{self.api}/label/__name__/values")
        data = body["data"]
        assert isinstance(data, list)
        return {str(name) for name in data}

    async def wait_for_scrape(self, within: float = 60.0) -> None:
        """Return once the job's target has been scraped successfully."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            if self.process.returncode is not None:
                pytest.fail(
                    f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}", pytrace=False
                )
            try:
                if await self.query(f'up{{job="{JOB}"}} == 1'):
                    return
            except (aiohttp.ClientError, AssertionError):
                pass
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"Prometheus did not scrape the target within {within} s", pytrace=False)
            await asyncio.sleep(0.25)

    async def wait_for_names(self, wanted: set[str], within: float = 20.0) -> set[str]:
        """Wait until every name in ``wanted`` has been scraped; return those still missing."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            missing = wanted - await self.names()
            if not missing or asyncio.get_running_loop().time() > deadline:
                return missing
            await asyncio.sleep(0.5)

    async def wait_for_rule_evaluation(self, within: float = 30.0) -> None:
        """Every alert rule has been evaluated at least once, and without error."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            body = await get_json(self.session, f"{self.api}/rules")
            rules = [rule for group in body["data"]["groups"] for rule in group["rules"]]  # type: ignore[index]
            assert rules
            errors = {r["name"]: r.get("lastError") for r in rules if r.get("health") == "err"}
            assert not errors, errors
            if all(r.get("health") == "ok" for r in rules):
                return
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(
                    f"rules not evaluated: {[(r['name'], r.get('health')) for r in rules]}", pytrace=False
                )
            await asyncio.sleep(0.25)


@asynccontextmanager
async def run_prometheus(target: str, workdir: Path) -> AsyncIterator[PrometheusRun]:
    """Prometheus scraping ``target`` (``host:port``) with the shipped config and rules."""
    config_path = write_config(target, workdir)
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            prometheus_binary(),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        async with aiohttp.ClientSession() as session:
            yield PrometheusRun(process, session, f"http://127.0.0.1:{port}/api/v1", log)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()
