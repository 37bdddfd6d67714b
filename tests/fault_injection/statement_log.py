"""What SQL the service sent: PostgreSQL's own statement log, read back and compared.

The fault cluster logs every statement of the service's role while the hostile scenario
runs (``log_statement = all`` set for the role in the database). Statements are
normalised (whitespace collapsed) and compared with an allowed set: the contract's
operation SQL, the SQL written in the package's source (string literals, and f-strings
as patterns whose holes match identifiers such as the schema name), transaction control,
and what the service sent during a warm-up of ordinary traffic (the asyncpg driver's own
introspection queries). Parameters are logged apart (``DETAIL: parameters``) and are data.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

_ENTRY = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(?P<pid>\d+)\] "
    r"(?P<who>\S*) (?P<level>[A-Z]+):  (?P<text>.*)$"
)
_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (?P<sql>.*)$", re.S)
TRANSACTION_CONTROL = re.compile(
    r"^(BEGIN( ISOLATION LEVEL [A-Z ]+)?( READ (ONLY|WRITE))?( (NOT )?DEFERRABLE)?|COMMIT|ROLLBACK|END"
    r"|SAVEPOINT \S+|RELEASE (SAVEPOINT )?\S+|ROLLBACK TO (SAVEPOINT )?\S+|START TRANSACTION.*);?$",
    re.I,
)


_SQL_START = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|COPY|CREATE|DROP|ALTER|SET|LOCK|TRUNCATE)\b", re.I
)


@dataclass
class Repertoire:
    """Statements the code base declares: exact texts and f-string patterns."""

    exact: set[str]
    patterns: list[re.Pattern[str]]

    def allows(self, sql: str) -> bool:
        return sql in self.exact or any(p.fullmatch(sql) for p in self.patterns)


def declared_statements(source_root: Path, extra: set[str]) -> Repertoire:
    """SQL literals and f-strings under ``source_root`` plus ``extra`` (already normalised)."""
    exact = set(extra)
    patterns: list[re.Pattern[str]] = []
    for path in sorted(source_root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _SQL_START.match(node.value)
            ):
                exact.add(normalise(node.value))
            elif isinstance(node, ast.JoinedStr):
                parts: list[str] = []
                for value in node.values:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        parts.append(value.value)
                    else:
                        parts.append("\x00")  # a hole
                text = "".join(parts)
                if _SQL_START.match(text):
                    literal = [re.escape(piece) for piece in normalise(text).split("\x00")]
                    patterns.append(re.compile(r"[\w.\"]+".join(literal)))
    return Repertoire(exact, patterns)


@dataclass(frozen=True)
class LoggedStatement:
    pid: int
    sql: str


def normalise(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip()


def read_statements(path: Path, start: int, end: int | None = None) -> list[LoggedStatement]:
    """Statements logged between byte offsets ``start`` and ``end`` of the server log."""
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read() if end is None else handle.read(max(0, end - start))
    statements: list[LoggedStatement] = []
    current: list[str] | None = None
    pid = 0

    def flush() -> None:
        if current is not None:
            match = _STATEMENT.match("\n".join(current))
            if match:
                statements.append(LoggedStatement(pid, normalise(match.group("sql"))))

    for line in data.decode("utf-8", "replace").splitlines():
        entry = _ENTRY.match(line)
        if entry:
            flush()
            current = None
            if entry.group("level") == "LOG":
                current = [entry.group("text")]
                pid = int(entry.group("pid"))
        elif current is not None and line.startswith("\t"):
            current.append(line[1:])
    flush()
    return statements


def outside(statements: list[LoggedStatement], allowed: Repertoire, exclude_pids: set[int]) -> list[str]:
    """Distinct statements not in ``allowed`` and not transaction control."""
    strange: dict[str, None] = {}
    for statement in statements:
        if statement.pid in exclude_pids or allowed.allows(statement.sql):
            continue
        if TRANSACTION_CONTROL.match(statement.sql):
            continue
        strange[statement.sql] = None
    return list(strange)


__all__ = ["LoggedStatement", "Repertoire", "declared_statements", "normalise", "outside", "read_statements"]
