"""Static checks of a named operation's SQL: placeholders, single statement, read-only.

The text is scanned with string literals, quoted identifiers, dollar-quoted bodies
and comments blanked out, so ``'$1'`` or ``-- DELETE`` do not count. This catches
mistakes early; it is not a SQL parser. The runtime also runs ``read_only``
operations inside a ``READ ONLY`` transaction, so PostgreSQL enforces it as well.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\$(\d+)")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WRITE = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|DROP|ALTER|CREATE|GRANT|REVOKE|COPY|CALL|DO|LOCK|"
    r"VACUUM|REINDEX|CLUSTER|REFRESH|NOTIFY)\b|\bFOR\s+(NO\s+KEY\s+)?"
    r"(UPDATE|SHARE|KEY\s+SHARE)\b",
    re.IGNORECASE,
)


def _skip_quoted(sql: str, start: int, quote: str) -> int:
    """Index just past the literal opened at ``start`` (doubled quotes escape)."""
    i = start + 1
    while i < len(sql):
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)


def _skip_block_comment(sql: str, start: int) -> int:
    depth, i = 0, start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(sql)


def blank_literals(sql: str) -> str:
    """``sql`` with literals, quoted identifiers, dollar-quoted text and comments replaced by spaces."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        end = i
        if ch in ("'", '"'):
            end = _skip_quoted(sql, i, ch)
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            end = len(sql) if newline < 0 else newline
        elif sql.startswith("/*", i):
            end = _skip_block_comment(sql, i)
        elif ch == "$" and (tag := _DOLLAR_TAG.match(sql, i)) is not None:
            closing = sql.find(tag.group(0), tag.end())
            end = len(sql) if closing < 0 else closing + len(tag.group(0))
        if end > i:
            out.append(" " * (end - i))
            i = end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def placeholder_numbers(sql: str) -> set[int]:
    """The ``$n`` numbers the statement uses."""
    return {int(n) for n in _PLACEHOLDER.findall(blank_literals(sql))}


def placeholder_problems(sql: str, parameter_names: tuple[str, ...]) -> list[str]:
    """Reasons why the ``$n`` in ``sql`` do not match the declared parameters ($1..$len)."""
    used = placeholder_numbers(sql)
    declared = len(parameter_names)
    problems: list[str] = []
    beyond = sorted(n for n in used if n > declared or n == 0)
    if beyond:
        listed = ", ".join(f"${n}" for n in beyond)
        problems.append(f"SQL uses {listed} but the operation declares {declared} parameter(s)")
    unused = [f"${n} ({parameter_names[n - 1]})" for n in range(1, declared + 1) if n not in used]
    if unused:
        problems.append(f"declared parameter(s) {', '.join(unused)} not used by the SQL")
    return problems


def statement_problems(sql: str) -> list[str]:
    """A named operation is exactly one statement (a trailing ``;`` is allowed)."""
    body = blank_literals(sql).strip().rstrip(";").strip()
    if not body:
        return ["SQL is empty"]
    if ";" in body:
        return ["SQL holds more than one statement"]
    return []


def write_keywords(sql: str) -> list[str]:
    """Keywords in ``sql`` that a read-only operation must not contain (upper-cased, unique)."""
    found = (" ".join(m.group(0).split()).upper() for m in _WRITE.finditer(blank_literals(sql)))
    return list(dict.fromkeys(found))


__all__ = [
    "blank_literals",
    "placeholder_numbers",
    "placeholder_problems",
    "statement_problems",
    "write_keywords",
]
