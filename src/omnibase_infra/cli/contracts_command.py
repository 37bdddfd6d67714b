"""``onex-infra contracts check [PATH...] [--json] [--config FILE]``: startup validation, not starting.

Checks the shipped contracts plus ONEX_CONTRACTS_PATH plus each PATH (file or
folder). Exit 0 when everything is valid, 1 otherwise; ``--json`` prints the
``ModelCheckReport``.
"""

from __future__ import annotations

import argparse
import os
import sys

from omnibase_infra.contract_validation.config_overlay import CONFIG_FILE_VARIABLE
from omnibase_infra.contract_validation.discovery import combined_extra_paths
from omnibase_infra.contract_validation.effective_config import resolve_configuration
from omnibase_infra.contract_validation.loader import check_contracts
from omnibase_infra.contract_validation.report_text import render_report
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ContractError


def run_check(args: argparse.Namespace) -> int:
    """Validate and print the report; return the exit code.

    With ``--config FILE`` (or ``ONEX_CONFIG_FILE``) the overlay is checked too (its values of
    every environment): a problem is printed on stderr and the exit code is 1.
    """
    paths: list[str] = list(args.paths)
    report, contracts = check_contracts(combined_extra_paths(paths))
    print(report.model_dump_json(indent=2) if args.json else render_report(report))
    overlay = args.config or os.environ.get(CONFIG_FILE_VARIABLE) or None
    if contracts is None or overlay is None:
        return 0 if report.valid else 1
    try:
        resolve_configuration(contracts, EnumEnvironment.DEVELOPMENT, overlay_file=overlay)
    except ContractError as exc:
        print(f"onex-infra: {exc}", file=sys.stderr)
        return 1
    if not args.json:
        print(f"valid: configuration overlay {overlay}")
    return 0


__all__ = ["run_check"]
