"""The real ``onex-infra run`` applies the configuration overlay and the variables, or refuses it.

The overlay (``ONEX_CONFIG_FILE``) resizes the PostgreSQL pool of the development environment;
``/health/detailed`` of the running service reports the pool the overlay asked for, and a
set ``POSTGRES_MAX_CONNECTIONS`` wins over the overlay. A value out of range stops
``run --config`` with exit code 3 naming the file, line, key path and allowed range, before
anything connects.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from service_harness import ONEX_INFRA, ServiceProcess

OVERLAY = """\
postgres_adapter:
  development:
    postgres_pool:
      min_connections: 2
      max_connections: 7
"""


async def _run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        ONEX_INFRA, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60.0)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _pool(body: dict[str, object]) -> dict[str, object]:
    postgres = body["postgres_metrics"]
    assert isinstance(postgres, dict)
    pool = postgres["connection_pool"]
    assert isinstance(pool, dict)
    return pool


async def test_the_overlay_sizes_the_pool_of_the_running_service(
    service: ServiceProcess, tmp_path: Path
) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(OVERLAY, encoding="utf-8")
    service.env.update({"ENVIRONMENT": "development", "ONEX_CONFIG_FILE": str(overlay)})
    for name in ("POSTGRES_MIN_CONNECTIONS", "POSTGRES_MAX_CONNECTIONS"):
        service.env.pop(name, None)

    code, out, err = await _run_cli("config", "show", "--json", env=service.env)
    assert code == 0, out + err
    assert '"source": "overlay"' in out

    service.start()
    await service.wait_ready()
    status, body = await service.get_json("/health/detailed")
    assert status == 200, body
    pool = _pool(body)
    # The shipped development contract says 1 and 5.
    assert (pool["min_size"], pool["max_size"]) == (2, 7)
    code, _ = service.stop()
    assert code == 0

    service.env["POSTGRES_MAX_CONNECTIONS"] = "9"
    service.proc = None
    service.start()
    await service.wait_ready()
    status, body = await service.get_json("/health/detailed")
    assert status == 200, body
    assert (_pool(body)["min_size"], _pool(body)["max_size"]) == (2, 9)


async def test_run_refuses_an_overlay_value_out_of_range(service: ServiceProcess, tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(OVERLAY.replace("max_connections: 7", "max_connections: 900"), encoding="utf-8")
    code, out, err = await _run_cli("run", "--config", str(overlay), env=service.env)
    assert code == 3, out + err
    assert f"{overlay}:5: postgres_adapter.development.postgres_pool.max_connections:" in err
    assert "allowed: 1 to 500" in err
