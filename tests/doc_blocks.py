"""Fenced code blocks of the Markdown docs, with the marker comment that precedes each.

The convention the docs tests rely on (docs/migration-guide.md explains it to readers):

- every ```` ```python ```` block of docs/migration-guide.md is a complete program that
  works as written (tests/integration/docs runs each one in its own process);
- a ```` ```bash ```` or ```` ```console ```` block is run only when the line before it
  (blank lines aside) is the HTML comment ``<!-- runnable -->``; ``<!-- runnable exit=N -->``
  expects exit code N instead of 0. A ``console`` block's commands are its ``$ `` lines
  (the other lines are sample output); a ``bash`` block runs as one script;
- ``<!-- contract-example -->`` before a ```` ```yaml ```` block marks a contract file that
  must pass ``onex-infra contracts check`` (tests/unit/docs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
MARKDOWN_FILES = (REPO_ROOT / "README.md", *sorted(DOCS.glob("*.md")), REPO_ROOT / "deploy" / "README.md")

_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*(.*?)\s*-->$")
_EXIT = re.compile(r"\bexit=(\d+)\b")
SHELL_LANGUAGES = frozenset({"bash", "console", "sh", "shell"})


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block: where it starts, its language, its text and its marker comment."""

    path: Path
    line: int
    language: str
    body: str
    marker: str | None

    @property
    def runnable(self) -> bool:
        return self.marker is not None and self.marker.split()[0] == "runnable"

    @property
    def expected_exit(self) -> int:
        found = _EXIT.search(self.marker or "")
        return int(found.group(1)) if found else 0

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.line}:{self.language or 'text'}"

    def console_commands(self) -> list[str]:
        """The ``$ `` lines of a console block, without the prompt."""
        return [line[2:] for line in self.body.splitlines() if line.startswith("$ ")]

    def shell_lines(self) -> list[str]:
        """Command lines of a shell block: ``$ `` lines of console, non-comment lines of bash."""
        if self.language == "console":
            return self.console_commands()
        return [
            line.strip()
            for line in self.body.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]


def code_blocks(path: Path) -> list[CodeBlock]:
    """Every fenced block of ``path`` in document order; an unclosed fence is an error."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[CodeBlock] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, language = opening.groups()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index])
            index += 1
        if index >= len(lines):
            raise ValueError(f"{path}:{start + 1}: code block is never closed")
        blocks.append(
            CodeBlock(path, start + 1, language.lower(), "\n".join(body) + "\n", _marker(lines, start))
        )
        index += 1
    return blocks


def _marker(lines: list[str], fence_index: int) -> str | None:
    previous = fence_index - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    if previous < 0:
        return None
    found = _MARKER.match(lines[previous].strip())
    return found.group(1) if found else None


__all__ = ["DOCS", "MARKDOWN_FILES", "REPO_ROOT", "SHELL_LANGUAGES", "CodeBlock", "code_blocks"]
