"""``onex-infra config show [--environment ENV] [--json] [--config FILE] [--contracts PATH]``.

Prints every ``environment_config`` value the service would run with, for the detected
environment (or ``--environment``), and where it comes from: an environment variable,
the overlay (file and line), the contract (file) or the model's default. Needs no server
variables. Exit 0; 1 when the contracts are invalid (the report is printed); 3 when the
overlay or a variable is bad (as ``run`` would refuse to start).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from omnibase_infra.contract_validation.discovery import combined_extra_paths
from omnibase_infra.contract_validation.effective_config import EffectiveConfiguration, resolve_configuration
from omnibase_infra.contract_validation.loader import check_contracts
from omnibase_infra.contract_validation.report_text import render_report
from omnibase_infra.environment import detect_environment, parse_environment
from omnibase_infra.errors import ConfigurationError, ContractError


def render_text(effective: EffectiveConfiguration) -> str:
    """One line per value: ``node.section.key  value  source``."""
    rows = [("KEY", "VALUE", "SOURCE")]
    rows += [(v.key_path, json.dumps(v.value), str(v.source)) for v in effective.values]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"environment: {effective.environment.value}"]
    lines += [f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}".rstrip() for row in rows]
    return "\n".join(lines)


def render_json(effective: EffectiveConfiguration) -> str:
    document = {
        "environment": effective.environment.value,
        "overlay_file": effective.overlay_file,
        "values": [
            {
                "node": v.node,
                "section": v.section,
                "key": v.key,
                "value": v.value,
                "source": v.source.kind,
                "origin": v.source.origin or None,
            }
            for v in effective.values
        ],
    }
    return json.dumps(document, indent=2)


def run_show(args: argparse.Namespace) -> int:
    """Print the effective configuration; return the exit code."""
    from omnibase_infra.settings import load_tuning_variables

    try:
        environment = (
            parse_environment(args.environment, "--environment")
            if args.environment
            else detect_environment(os.environ)
        )
        tuning = load_tuning_variables()
    except ConfigurationError as exc:
        print(f"onex-infra: {exc}", file=sys.stderr)
        return 3
    report, contracts = check_contracts(combined_extra_paths(list(args.contracts)), validate_core=False)
    if contracts is None:
        print(report.model_dump_json(indent=2) if args.json else render_report(report))
        return 1
    try:
        effective = resolve_configuration(
            contracts,
            environment,
            overlay_file=args.config or tuning.config_file,
            variables=tuning.values,
        )
    except (ConfigurationError, ContractError) as exc:
        print(f"onex-infra: {exc}", file=sys.stderr)
        return 3
    print(render_json(effective) if args.json else render_text(effective))
    return 0


__all__ = ["render_json", "render_text", "run_show"]
