"""What the bench's side tools share: the block of docs/performance.md a tool's table sits in
(between two marker comments), the git revision a report names, and the report written out."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def block_between(text: str, begin: str, end: str) -> str | None:
    """The text from ``begin`` to the end of ``end``, markers included; None when either is missing."""
    start, stop = text.find(begin), text.find(end)
    return None if start == -1 or stop == -1 else text[start : stop + len(end)]


def git_revision() -> str:
    """The checkout's short revision ("" outside a git checkout)."""
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def publish_report(report: dict[str, Any], table: str, json_path: str | None) -> None:
    """Print ``table`` (the report's markdown block); write the report as JSON to ``json_path``."""
    print()
    print(table)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print(f"wrote {json_path}")


__all__ = ["block_between", "git_revision", "publish_report"]
