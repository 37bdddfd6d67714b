"""Entry point of ``onex-infra`` (and of ``python -m omnibase_infra``).

Every subcommand has a one-line summary (its line in its parent's ``--help``) and a
description (the opening of its own ``--help`` page). The parser is built here with no
heavy import, so ``--help`` stays fast; each command lives in its own module, imported
only when that command runs, and returns the process exit code:

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
from omnibase_infra.workflow.dlq_stages import DLQ_STAGES

Handler = Callable[[argparse.Namespace], int]


def _lazy(target: str) -> Handler:
    """Return a handler that imports ``module:function`` when first called."""
    module_name, function_name = target.split(":")

    def run(args: argparse.Namespace) -> int:
        module = importlib.import_module(f"omnibase_infra.cli.{module_name}")
        return cast(Handler, getattr(module, function_name))(args)

    return run


# A ``type`` statement is evaluated lazily: argparse's action class is generic only to type checkers.
type Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def _command(commands: Commands, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """Add subcommand ``name``: ``summary`` in its parent's list, ``description`` atop its own page."""
    return commands.add_parser(
        name, help=summary, description=f"{summary[0].upper()}{summary[1:]}. {description}"
    )


def _subcommands(parser: argparse.ArgumentParser) -> Commands:
    return parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)


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


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration overlay: contract values per node and environment (also ONEX_CONFIG_FILE)",
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


def _add_operator_commands(commands: Commands) -> None:
    """``env check``, ``health``, ``dlq list|replay``, ``outbox status|requeue``, ``breaker reset``."""
    env = _command(
        commands,
        "env",
        "the environment the service would run in",
        "'env check' reads the same variables as 'run' and checks the servers they name.",
    )
    env_check = _command(
        _subcommands(env),
        "check",
        "check variables, PostgreSQL, Kafka and the OTLP endpoint (exit 1 on a problem)",
        "Validates every variable exactly as 'run' does (a bad one is named with its meaning), "
        "shows the environment detected, then connects to PostgreSQL, Kafka and the OTLP "
        "collector and tries the HTTP ports. Secrets are shown as 'set (hidden)'.",
    )
    env_check.add_argument(
        "-v", "--verbose", action="store_true", help="also list the unset optional variables"
    )
    _add_timeout(env_check, 5.0)
    _add_json(env_check)
    env_check.set_defaults(handler=_lazy("env_command:run_check"))

    health = _command(
        commands,
        "health",
        "a running service's /health/detailed (exit 1 when unhealthy or unreachable)",
        "Reads GET /health/detailed of a running service and prints PostgreSQL, Kafka and each "
        "circuit breaker; exit 0 when healthy or degraded.",
    )
    _add_url(health)
    _add_timeout(health, 5.0)
    _add_json(health)
    health.set_defaults(handler=_lazy("health_command:run_health"))

    dlq = _command(
        commands,
        "dlq",
        "dead-letter topics: inspect and replay",
        "A record that can never be applied goes to T.dlq with headers naming its original topic, "
        "partition, offset, the stage it failed at and the error.",
    )
    dlq_sub = _subcommands(dlq)
    dlq_list = _command(
        dlq_sub,
        "list",
        "list the records of a DLQ topic (no consumer group, no commit)",
        "Shows each record's DLQ offset, original coordinates, stage, error class and message; "
        "the topic is read from the start and nothing is committed.",
    )
    dlq_replay = _command(
        dlq_sub,
        "replay",
        "republish selected DLQ records to their original topics",
        "Sends the selected records' original key, value and headers back to the topic they came "
        "from; the service then consumes them again (an event already stored is not stored twice).",
    )
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
        "--stage",
        metavar="STAGE",
        help="only records that failed at STAGE: " + ", ".join(DLQ_STAGES),
    )
    dlq_replay.add_argument(
        "--dry-run", action="store_true", help="show what would be replayed; send nothing"
    )
    for sub in (dlq_list, dlq_replay):
        _add_timeout(sub, 10.0)
        _add_json(sub)
    dlq_list.set_defaults(handler=_lazy("dlq_command:run_list"))
    dlq_replay.set_defaults(handler=_lazy("dlq_command:run_replay"))

    outbox = _command(
        commands,
        "outbox",
        "the outbox table (PostgreSQL -> Kafka relay)",
        "Rows written to onex_outbox are published in order per key by the running service.",
    )
    outbox_sub = _subcommands(outbox)
    outbox_status = _command(
        outbox_sub,
        "status",
        "rows per status, oldest pending age, dead-letter rows (exit 1 if any)",
        "Reads onex_outbox in POSTGRES_SCHEMA with the service's PostgreSQL variables.",
    )
    _add_limit(outbox_status, 10, "dead-letter rows")
    _add_json(outbox_status)
    outbox_status.set_defaults(handler=_lazy("outbox_command:run_status"))
    outbox_requeue = _command(
        outbox_sub,
        "requeue",
        "put dead_letter rows back to pending (exit 1 if one was not dead_letter)",
        "After the cause of a dead-lettered row is fixed (a topic created, a header repaired), "
        "the row is published again by the running service, and the rows of its key held "
        "behind it follow in order.",
    )
    outbox_requeue.add_argument("ids", nargs="+", type=_positive(int), metavar="ID", help="outbox row id")
    _add_json(outbox_requeue)
    outbox_requeue.set_defaults(handler=_lazy("outbox_command:run_requeue"))

    breaker = _command(
        commands,
        "breaker",
        "circuit breakers of a running service",
        "The service has a breaker per server, postgres and kafka; 'health' shows their states.",
    )
    reset = _command(
        _subcommands(breaker),
        "reset",
        "close breaker NAME (POST /admin/breakers/NAME/reset with $ONEX_ADMIN_TOKEN)",
        "Closes an open breaker of a running service at once instead of waiting for its "
        "half-open trial; the service has the admin route only when ONEX_ADMIN_TOKEN is set.",
    )
    reset.add_argument("name", metavar="NAME", help="breaker name: postgres or kafka")
    _add_url(reset)
    _add_timeout(reset, 5.0)
    _add_json(reset)
    reset.set_defaults(handler=_lazy("breaker_command:run_reset"))


def _add_backup_commands(
    db_sub: argparse._SubParsersAction[argparse.ArgumentParser], migrate: argparse.ArgumentParser
) -> None:
    """``db backup`` and ``db verify-backup``; ``--pg-bin`` also on ``db migrate``."""
    backup = _command(
        db_sub,
        "backup",
        "pg_dump of POSTGRES_SCHEMA with its sha256 and manifest, verified",
        "Writes <db>.<schema>.<time>.dump (custom format), its .sha256 and a .manifest.json "
        "(schema version, time, row counts per table) from one snapshot, then verifies them.",
    )
    backup.add_argument("--output", default=".", metavar="DIR", help="folder of the backup files (default .)")
    verify = _command(
        db_sub,
        "verify-backup",
        "check a backup's checksum, manifest and archive (exit 1 on a problem)",
        "Checks the .sha256 and the manifest, lists the archive with pg_restore, and with "
        "--restore-into restores it into an empty scratch database and compares row counts.",
    )
    verify.add_argument(
        "file", metavar="FILE", help="the .dump file (its .sha256 and .manifest.json beside it)"
    )
    verify.add_argument(
        "--restore-into",
        metavar="DATABASE",
        help="also restore into this empty scratch database on POSTGRES_HOST and compare row counts",
    )
    for parser in (backup, verify, migrate):
        parser.add_argument(
            "--pg-bin",
            metavar="DIR",
            help="pg_dump/pg_restore from DIR (default /usr/lib/postgresql/<server major>/bin, then PATH)",
        )
    for parser in (backup, verify):
        _add_json(parser)
    backup.set_defaults(handler=_lazy("db_backup_command:run_backup"))
    verify.set_defaults(handler=_lazy("db_backup_command:run_verify"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onex-infra",
        description="ONEX infrastructure: Kafka event bus <-> PostgreSQL, with breakers and health.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    contracts = _command(
        commands,
        "contracts",
        "validate node and composition contracts",
        "Contracts carry the per-environment tuning, the topics and the operations.",
    )
    check = _command(
        _subcommands(contracts),
        "check",
        "validate the shipped contracts and PATHs",
        "Checks YAML syntax, the JSON schema, omnibase-core's contract models and the cross-file "
        "rules without starting anything; each problem names its file, key and reason (exit 1).",
    )
    check.add_argument("paths", nargs="*", metavar="PATH", help="extra contract files or folders")
    _add_json(check)
    _add_config(check)
    check.set_defaults(handler=_lazy("contracts_command:run_check"))

    nodes = _command(
        commands,
        "nodes",
        "the node registry",
        "Nodes are registered through the onex.nodes entry points of installed packages.",
    )
    nodes_list = _command(
        _subcommands(nodes),
        "list",
        "list registered nodes with kind and contract",
        "Loads the contracts (the shipped ones and --contracts PATH) and lists each node.",
    )
    _add_json(nodes_list)
    _add_contracts(nodes_list)
    _add_config(nodes_list)
    nodes_list.set_defaults(handler=_lazy("nodes_command:run_list"))

    run = _command(
        commands,
        "run",
        "run the service until SIGTERM/SIGINT",
        "Reads the environment variables and the contracts (a bad one stops it with exit 3), "
        "connects to PostgreSQL and Kafka, then consumes, writes and serves /health and /metrics; "
        "SIGTERM finishes the batch in flight and exits 0.",
    )
    _add_contracts(run)
    _add_config(run)
    run.set_defaults(handler=_lazy("run_command:run_service"))

    show = _command(
        _subcommands(
            _command(
                commands,
                "config",
                "the effective contract configuration",
                "Contract values can be overridden by an overlay file and a few variables.",
            )
        ),
        "show",
        "every contract value in effect, with its source (variable, overlay, contract, default)",
        "Prints each environment_config value of every node for one environment, and where it "
        "came from; needs no server variables.",
    )
    show.add_argument(
        "--environment",
        metavar="ENV",
        help="production, staging or development (default: detected from ENVIRONMENT, ENV, ...)",
    )
    _add_json(show)
    _add_contracts(show)
    _add_config(show)
    show.set_defaults(handler=_lazy("config_command:run_show"))

    db = _command(
        commands,
        "db",
        "the service's own tables",
        "The event store, inbox, outbox, infrastructure state and audit tables live in POSTGRES_SCHEMA.",
    )
    db_sub = _subcommands(db)
    migrate = _command(
        db_sub,
        "migrate",
        "create or upgrade the tables in POSTGRES_SCHEMA",
        "Applies the migrations not yet applied, each in its own transaction; running it again "
        "changes nothing. 'run' refuses to start on a schema that is behind.",
    )
    migrate.add_argument(
        "--backup",
        nargs="?",
        const=".",
        metavar="DIR",
        help="first a verified backup into DIR (default .) if a migration is pending; fail if it fails",
    )
    _add_json(migrate)
    migrate.set_defaults(handler=_lazy("db_command:run_migrate"))
    db_status = _command(
        db_sub,
        "status",
        "show the schema version (exit 1 if behind)",
        "Compares the applied migrations with the ones this version ships.",
    )
    _add_json(db_status)
    db_status.set_defaults(handler=_lazy("db_command:run_status"))
    _add_backup_commands(db_sub, migrate)

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
