"""The project's design lives in its own documents: nothing it ships cites a brief outside the repository."""

from __future__ import annotations

from doc_blocks import REPO_ROOT

# Spelled in two parts so that this file does not match itself.
OUTSIDE_BRIEF = "DESIGN" + ".md"
SHIPPED = ("src", "contracts", "docs", "deploy", "monitoring", "scripts", "tests")
TEXT_SUFFIXES = frozenset({".py", ".md", ".yaml", ".yml", ".json", ".sql", ".toml", ".txt", ""})


def test_no_shipped_file_cites_a_design_brief_outside_the_repository() -> None:
    citing: list[str] = []
    files = [REPO_ROOT / "README.md", REPO_ROOT / "pyproject.toml"]
    for top in SHIPPED:
        files += [p for p in (REPO_ROOT / top).rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES]
    for path in files:
        if "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if OUTSIDE_BRIEF in text:
            citing.append(str(path.relative_to(REPO_ROOT)))
    assert not citing, f"these files cite {OUTSIDE_BRIEF}, which is not in the repository: {citing}"
