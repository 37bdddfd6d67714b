"""Entry point of ``onex-infra``.

The parser is built here with no heavy import, so ``--help`` stays fast; each
command lives in its own module, imported only when that command runs, and
returns the process exit code:

    0  success
    1  the command ran and found a problem (invalid contract, failed check, ...)
    2  usage error (argparse)
    3  configuration error (a bad environment variable or contract at startup)
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import cast

from omnibase_infra import __version__

Handler = Callable[[argparse.Namespace], int]


def _lazy(target: str) -> Handler:
    """Return a handler that imports ``module:function`` when first called."""
    module_name, function_name = target.split(":")

    def run(args: argparse.Namespace) -> int:
        module = importlib.import_module(f"omnibase_infra.cli.{module_name}")
        return cast(Handler, getattr(module, function_name))(args)

    return run


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _add_contracts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--contracts",
        action="append",
        default=[],
        metavar="PATH",
        help="extra contract file or folder (repeatable; also ONEX_CONTRACTS_PATH)",
    )


def _lazy_type(target: str) -> Callable[[str], object]:
    """An argparse ``type=`` that imports ``module:function`` only when the option is given."""
    module_name, function_name = target.split(":")

    def convert(text: str) -> object:
        module = importlib.import_module(f"omnibase_infra.cli.{module_name}")
        return cast(Callable[[str], object], getattr(module, function_name))(text)

    convert.__name__ = function_name  # argparse names the type in its error message
    return convert


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
        return value

    return convert


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        metavar="URL",
        help="the service's health endpoint base (default http://127.0.0.1:$HEALTH_CHECK_PORT, port 8080)",
    )


def _add_timeout(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive(float),
        default=default,
        metavar="SECONDS",
        help=f"give up on a server after this long (default {default:g})",
    )


def _add_limit(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    parser.add_argument(
        "--limit",
        type=_positive(int),
        default=default,
        metavar="N",
        help=f"show at most N {what} (default {default})",
    )


def _add_operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``env check``, ``health``, ``dlq list|replay``, ``outbox status|requeue``, ``breaker reset``."""
    env = commands.add_parser("env", help="the environment the service would run in")
    env_sub = env.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    env_check = env_sub.add_parser(
        "check", help="check variables, PostgreSQL, Kafka and the OTLP endpoint (exit 1 on a problem)"
    )
    env_check.add_argument(
        "-v", "--verbose", action="store_true", help="also list the unset optional variables"
    )
    _add_timeout(env_check, 5.0)
    _add_json(env_check)
    env_check.set_defaults(handler=_lazy("env_command:run_check"))

    health = commands.add_parser(
        "health", help="a running service's /health/detailed (exit 1 when unhealthy or unreachable)"
    )
    _add_url(health)
    _add_timeout(health, 5.0)
    _add_json(health)
    health.set_defaults(handler=_lazy("health_command:run_health"))

    dlq = commands.add_parser("dlq", help="dead-letter topics: inspect and replay")
    dlq_sub = dlq.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    dlq_list = dlq_sub.add_parser(
        "list", help="list the records of a DLQ topic (no consumer group, no commit)"
    )
    dlq_replay = dlq_sub.add_parser("replay", help="republish selected DLQ records to their original topics")
    for sub in (dlq_list, dlq_replay):
        sub.add_argument("topic", metavar="TOPIC", help="the DLQ topic T.dlq, or its source topic T")
        sub.add_argument("--partition", type=int, metavar="P", help="only this partition of the DLQ topic")
    _add_limit(dlq_list, 50, "records")
    selection = dlq_replay.add_mutually_exclusive_group(required=True)
    selection.add_argument(
        "--offsets",
        type=_lazy_type("dlq_records:parse_offsets"),
        metavar="LIST",
        help="offsets to replay: 3,5-9 (of --partition or the only partition) or 0:3,1:5-9",
    )
    selection.add_argument("--all", action="store_true", help="replay every record of the topic")
    dlq_replay.add_argument(
        "--stage", metavar="STAGE", help="only records that failed at STAGE (decode, ...)"
    )
    dlq_replay.add_argument(
        "--dry-run", action="store_true", help="show what would be replayed; send nothing"
    )
    for sub in (dlq_list, dlq_replay):
        _add_timeout(sub, 10.0)
        _add_json(sub)
    dlq_list.set_defaults(handler=_lazy("dlq_command:run_list"))
    dlq_replay.set_defaults(handler=_lazy("dlq_command:run_replay"))

    outbox = commands.add_parser("outbox", help="the outbox table (PostgreSQL -> Kafka relay)")
    outbox_sub = outbox.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    outbox_status = outbox_sub.add_parser(
        "status", help="rows per status, oldest pending age, dead-letter rows (exit 1 if any)"
    )
    _add_limit(outbox_status, 10, "dead-letter rows")
    _add_json(outbox_status)
    outbox_status.set_defaults(handler=_lazy("outbox_command:run_status"))
    outbox_requeue = outbox_sub.add_parser(
        "requeue", help="put dead_letter rows back to pending (exit 1 if one was not dead_letter)"
    )
    outbox_requeue.add_argument("ids", nargs="+", type=_positive(int), metavar="ID", help="outbox row id")
    _add_json(outbox_requeue)
    outbox_requeue.set_defaults(handler=_lazy("outbox_command:run_requeue"))

    breaker = commands.add_parser("breaker", help="circuit breakers of a running service")
    breaker_sub = breaker.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    reset = breaker_sub.add_parser(
        "reset", help="close breaker NAME (POST /admin/breakers/NAME/reset with $ONEX_ADMIN_TOKEN)"
    )
    reset.add_argument("name", metavar="NAME", help="breaker name: postgres or kafka")
    _add_url(reset)
    _add_timeout(reset, 5.0)
    _add_json(reset)
    reset.set_defaults(handler=_lazy("breaker_command:run_reset"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onex-infra",
        description="ONEX infrastructure: Kafka event bus <-> PostgreSQL, with breakers and health.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    contracts = commands.add_parser("contracts", help="validate node and composition contracts")
    contracts_sub = contracts.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    check = contracts_sub.add_parser("check", help="validate the shipped contracts and PATHs")
    check.add_argument("paths", nargs="*", metavar="PATH", help="extra contract files or folders")
    _add_json(check)
    check.set_defaults(handler=_lazy("contracts_command:run_check"))

    nodes = commands.add_parser("nodes", help="the node registry")
    nodes_sub = nodes.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    nodes_list = nodes_sub.add_parser("list", help="list registered nodes with kind and contract")
    _add_json(nodes_list)
    _add_contracts(nodes_list)
    nodes_list.set_defaults(handler=_lazy("nodes_command:run_list"))

    run = commands.add_parser("run", help="run the service until SIGTERM/SIGINT")
    _add_contracts(run)
    run.set_defaults(handler=_lazy("run_command:run_service"))

    db = commands.add_parser("db", help="the service's own tables")
    db_sub = db.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    migrate = db_sub.add_parser("migrate", help="create or upgrade the tables in POSTGRES_SCHEMA")
    _add_json(migrate)
    migrate.set_defaults(handler=_lazy("db_command:run_migrate"))
    db_status = db_sub.add_parser("status", help="show the schema version (exit 1 if behind)")
    _add_json(db_status)
    db_status.set_defaults(handler=_lazy("db_command:run_status"))

    _add_operator_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = cast(Handler, args.handler)
    try:
        return handler(args)
    except BrokenPipeError:
        # The reader went away (`onex-infra dlq list T --json | head`): stop quietly, as a
        # pipeline expects; stdout is pointed at devnull so the interpreter's flush at exit
        # does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
