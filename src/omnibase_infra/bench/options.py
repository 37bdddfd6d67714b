"""``scripts/bench``: run every case on the same data, print a table, write bench-results/<ts>.json.

Cases (docs/performance.md explains the method):
  1a kafka ceiling   raw aiokafka consumption of the pre-loaded topic (no database)
  1b copy ceiling    raw asyncpg COPY of the same rows into the same table shape (no Kafka)
  1c writer alone    the service's write_events, batch by batch, split as the service splits
                     them (no Kafka; diagnostic); again on one connection when that differs
  2  event store     the service from start to last row committed; ratio to min(1a, 1b)
  2b scale out       the same with N instances in one consumer group (--instances)
  3  latency         fixed offered rate; envelope timestamp at send → row committed
  3b latency 20k     the same at --latency-high-rate (default 20,000/s); 3c its Kafka-only floor
  4  operations      command → reply round trip at a fixed rate
  4b operations      the same at saturation: a closed loop of --ops-window outstanding commands
  5  outbox relay    pending rows → published and marked
  5b outbox idle     one row into an idle outbox → published and marked (latency)
  6  memory          service RSS during case 2 (peak) and after it
  7  peer            Kafka Connect + Debezium JDBC sink on the same rows; our ratio to it
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omnibase_infra.bench import environment

ALL_CASES = (
    "ceilings",
    "writer",
    "scale",
    "store",
    "latency",
    "operations",
    "outbox",
    "outbox_idle",
    "peer",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=500_000, help="pre-loaded envelopes (default 500000)")
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument(
        "--instances", type=int, default=2, help="case 2b: service instances in one group (default 2)"
    )
    p.add_argument(
        "--environment", default="production", help="ENVIRONMENT of the service (default production)"
    )
    p.add_argument("--latency-rate", type=float, default=2000.0, help="case 3 offered events/s")
    p.add_argument(
        "--latency-high-rate",
        type=float,
        default=20000.0,
        help="cases 3b/3c offered events/s (default 20000; 0 skips them)",
    )
    p.add_argument("--latency-seconds", type=float, default=30.0)
    p.add_argument("--ops-rate", type=float, default=50.0, help="case 4 offered commands/s (default 50)")
    p.add_argument("--ops-seconds", type=float, default=10.0)
    p.add_argument(
        "--ops-window",
        type=int,
        default=2000,
        help="case 4b: commands outstanding at once (default 2000: four of the service's polls)",
    )
    p.add_argument(
        "--ops-profile-seconds", type=float, default=0.0, help="attach py-spy to the service during case 4b"
    )
    p.add_argument(
        "--soak-seconds",
        type=float,
        default=0.0,
        help="also run a memory soak at --latency-rate for this long (e.g. 600); off by default",
    )
    p.add_argument("--outbox-rows", type=int, default=20_000)
    p.add_argument("--outbox-keys", type=int, default=100)
    p.add_argument("--outbox-idle-rows", type=int, default=200, help="case 5b rows, one at a time")
    p.add_argument("--outbox-idle-gap-ms", type=float, default=30.0, help="case 5b idle time before each row")
    p.add_argument("--copy-chunk", type=int, default=10_000, help="rows per COPY in case 1b")
    p.add_argument("--cases", default=",".join(ALL_CASES), help=f"subset of {','.join(ALL_CASES)}")
    p.add_argument("--no-peer", action="store_true", help="skip case 7 (Kafka Connect + Debezium)")
    p.add_argument(
        "--use-env-servers",
        action="store_true",
        help="use POSTGRES_* / KAFKA_BOOTSTRAP_SERVERS from the environment, start nothing",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path("/tmp/onex-svc-bench"),
        help="the bench's own servers and jar cache (default /tmp/onex-svc-bench)",
    )
    p.add_argument("--postgres-port", type=int, default=27432)
    p.add_argument("--kafka-port", type=int, default=29092)
    p.add_argument("--kafka-controller-port", type=int, default=29093)
    p.add_argument("--results-dir", type=Path, default=environment.REPO_ROOT / "bench-results")
    p.add_argument("--keep", action="store_true", help="keep the bench schema and topics afterwards")
    p.add_argument(
        "--record",
        action="store_true",
        help="also write docs/results/bench.json and its table in docs/performance.md (commit both)",
    )
    p.add_argument(
        "--profile-seconds",
        type=float,
        default=0.0,
        help="attach py-spy to the service for this many seconds of case 2 and of case 3b (dev tool)",
    )
    args = p.parse_args(argv)
    args.case_set = set(args.cases.split(","))
    if args.no_peer:
        args.case_set.discard("peer")
    unknown = args.case_set - set(ALL_CASES)
    if unknown:
        p.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    return args


__all__ = ["ALL_CASES", "parse_args"]
