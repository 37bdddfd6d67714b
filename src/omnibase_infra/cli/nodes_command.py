"""``onex-infra nodes list [--json] [--contracts PATH] [--config FILE]``: the registered nodes.

Lists each node's kind and contract. With an overlay (``--config`` or ``ONEX_CONFIG_FILE``),
the overlay is checked against the contracts too (exit 1 when it is invalid).

Reads the ``onex.nodes`` entry points and the contracts (schema and cross-checks;
omnibase-core's contract models are skipped to stay fast) without importing any
node class. Exit 1 when the contracts are invalid (the report is printed instead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from omnibase_infra.contract_validation.config_overlay import CONFIG_FILE_VARIABLE
from omnibase_infra.contract_validation.discovery import combined_extra_paths
from omnibase_infra.contract_validation.effective_config import resolve_configuration
from omnibase_infra.contract_validation.loader import check_contracts
from omnibase_infra.contract_validation.report_text import render_report
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ContractError
from omnibase_infra.registry.entry_points import discover_nodes


def run_list(args: argparse.Namespace) -> int:
    """Print the registry; return the exit code."""
    paths: list[str] = list(args.contracts)
    report, contract_set = check_contracts(combined_extra_paths(paths), validate_core=False)
    if contract_set is None:
        print(report.model_dump_json(indent=2) if args.json else render_report(report))
        return 1
    overlay = args.config or os.environ.get(CONFIG_FILE_VARIABLE) or None
    if overlay is not None:
        try:
            resolve_configuration(contract_set, EnumEnvironment.DEVELOPMENT, overlay_file=overlay)
        except ContractError as exc:  # the overlay names a node or key these contracts lack
            print(f"onex-infra: {exc}", file=sys.stderr)
            return 1
    discovered = discover_nodes(contract_set)
    nodes = discovered.registry.list()
    if args.json:
        document = {
            "nodes": [n.model_dump(mode="json") for n in nodes],
            "skipped": [{"name": s.name, "value": s.value, "reason": s.reason} for s in discovered.skipped],
        }
        print(json.dumps(document, indent=2))
        return 0
    rows = [("NAME", "VERSION", "KIND", "CLASS", "CONTRACT")]
    rows += [(n.name, n.version, n.kind, n.entry_point.rpartition(":")[2], n.contract_path) for n in nodes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    if discovered.skipped:
        print(f"({len(discovered.skipped)} other onex.nodes entry points have no omnibase_infra contract)")
    return 0


__all__ = ["run_list"]
