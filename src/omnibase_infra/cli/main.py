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

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = cast(Handler, args.handler)
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
