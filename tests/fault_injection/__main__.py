"""``python -m fault_injection``: run the scenarios (``scripts/faults`` sets up the servers)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fault_injection.report import COMMITTED_JSON, render_markdown, render_text, update_doc, write_json
from fault_injection.results import ScenarioResult
from fault_injection.scenarios import NOT_QUICK, SCENARIOS
from fault_injection.servers import REPO_ROOT, FaultServers
from fault_injection.streaming import RunContext

logger = logging.getLogger("faults")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/faults", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small streams, one fault of each kind")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="run only these")
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    parser.add_argument(
        "--no-doc", action="store_true", help="do not update docs/reliability.md and docs/results/faults.json"
    )
    parser.add_argument("--doc", type=Path, default=REPO_ROOT / "docs" / "reliability.md")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep-servers", action="store_true", help="(handled by scripts/faults)")
    parser.add_argument("--keep-data", action="store_true", help="keep each scenario's schema and topics")
    parser.add_argument("--environment", default="development", help="ENVIRONMENT of the service")
    return parser.parse_args(argv)


def _server_versions(servers: FaultServers) -> tuple[str, str]:
    postgres = servers.admin_sql("SHOW server_version").strip().split(" ")[0]
    kafka = "3.9.1"
    status = subprocess.run(
        [str(servers.services_script), "status"], capture_output=True, text=True, check=False
    ).stdout
    for line in status.splitlines():
        if line.startswith("kafka") and "Apache Kafka" in line:
            kafka = line.split("Apache Kafka", 1)[1].split()[0]
    return f"PostgreSQL {postgres}", kafka


async def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    servers = FaultServers.from_environment()
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = servers.state_dir / "runs" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(
        servers=servers,
        run_dir=run_dir,
        quick=args.quick,
        rng=random.Random(seed),
        keep_data=args.keep_data,
        environment=args.environment,
    )
    names = args.scenario or [n for n in SCENARIOS if not (args.quick and n in NOT_QUICK)]
    logger.info("fault injection: %s, seed %d, logs in %s", "quick" if args.quick else "full", seed, run_dir)
    started = time.monotonic()
    results: list[ScenarioResult] = []
    for name in names:
        logger.info("scenario %s", name)
        result = await SCENARIOS[name](ctx)
        results.append(result)
        logger.info(
            "scenario %s: %s (lost %d, duplicated %d, misplaced %d) in %.0f s",
            name,
            "PASS" if result.passed else "FAIL",
            result.lost,
            result.duplicated,
            result.misplaced + result.phantom,
            result.duration_s,
        )
    postgres, kafka = _server_versions(servers)
    command = "scripts/faults" + ("".join(f" {a}" for a in argv if a != "--keep-servers"))
    meta: dict[str, Any] = {
        "command": command,
        "quick": args.quick,
        "seed": seed,
        "environment": args.environment,
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_min": (time.monotonic() - started) / 60,
        "run_dir": str(run_dir),
        "postgres": postgres,
        "kafka": kafka,
    }
    print()
    print(render_text(results))
    json_path = args.json or run_dir / "faults.json"
    write_json(json_path, results, meta)
    print(f"\nJSON report: {json_path}\nservice logs: {run_dir}")
    if not args.quick and not args.no_doc and not args.scenario:
        committed = REPO_ROOT / COMMITTED_JSON
        write_json(committed, results, meta)
        update_doc(args.doc, render_markdown(results, meta))
        print(f"updated {args.doc} and {committed}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
