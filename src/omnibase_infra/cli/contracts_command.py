"""``onex-infra contracts check [PATH...] [--json]``: the startup validation, without starting.

Checks the shipped contracts plus ONEX_CONTRACTS_PATH plus each PATH (file or
folder). Exit 0 when everything is valid, 1 otherwise; ``--json`` prints the
``ModelCheckReport``.
"""

from __future__ import annotations

import argparse

from omnibase_infra.contract_validation.discovery import combined_extra_paths
from omnibase_infra.contract_validation.loader import check_contracts
from omnibase_infra.contract_validation.report_text import render_report


def run_check(args: argparse.Namespace) -> int:
    """Validate and print the report; return the exit code."""
    paths: list[str] = list(args.paths)
    report, _ = check_contracts(combined_extra_paths(paths))
    print(report.model_dump_json(indent=2) if args.json else render_report(report))
    return 0 if report.valid else 1


__all__ = ["run_check"]
