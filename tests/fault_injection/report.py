"""The table, the JSON report and the section of docs/reliability.md that keeps the latest run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fault_injection.results import ScenarioResult

BEGIN = "<!-- faults:begin (written by scripts/faults; do not edit by hand) -->"
END = "<!-- faults:end -->"
# A full run's JSON report, committed beside the section of docs/reliability.md it feeds: a
# unit test renders the section again from it, so every figure there can be checked.
COMMITTED_JSON = "docs/results/faults.json"


def _seconds(pair: tuple[float, float] | None) -> str:
    return "-" if pair is None else f"{pair[0]:.1f} / {pair[1]:.1f}"


def summary_rows(results: list[ScenarioResult]) -> list[list[str]]:
    rows = []
    for r in results:
        rows.append(
            [
                r.name,
                f"{r.events:,}",
                str(len(r.faults)),
                str(r.lost),
                str(r.duplicated),
                str(r.misplaced + r.phantom),
                str(r.log_duplicates),
                str(r.figures.get("poison_in_dlq", "-")),
                _seconds(r.recovery("stall_s")),
                _seconds(r.recovery("first_row_s")),
                _seconds(r.recovery("caught_up_s")),
                "-" if r.drain_s is None else f"{r.drain_s:.1f}",
                "PASS" if r.passed else "FAIL",
            ]
        )
    return rows


HEADER = [
    "scenario",
    "events",
    "faults",
    "lost",
    "duplicated",
    "misplaced",
    "log dups*",
    "poison in DLQ",
    "write stall s (med/max)",
    "first row s (med/max)",
    "caught up s (med/max)",
    "drain s",
    "result",
]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def fault_rows(results: list[ScenarioResult]) -> list[list[str]]:
    rows = []
    for r in results:
        for i, f in enumerate(r.faults, 1):
            rows.append(
                [
                    r.name,
                    str(i),
                    f.kind,
                    f"{f.duration_s:.1f}",
                    "-" if f.ready_s is None else f"{f.ready_s:.1f}",
                    "-" if f.stall_s is None else f"{f.stall_s:.2f}",
                    "-" if f.first_row_s is None else f"{f.first_row_s:.2f}",
                    "-" if f.caught_up_s is None else f"{f.caught_up_s:.2f}",
                    f.detail,
                ]
            )
    return rows


FAULT_HEADER = [
    "scenario",
    "#",
    "fault",
    "fault s",
    "ready s",
    "write stall s",
    "first row s",
    "caught up s",
    "detail",
]


def check_lines(results: list[ScenarioResult]) -> list[str]:
    lines = []
    for r in results:
        if r.error:
            lines.append(f"- **{r.name}**: ERROR {r.error}")
        for c in r.checks:
            mark = "ok" if c.ok else "FAILED"
            lines.append(f"- {r.name}: {c.name}: {mark}" + (f" ({c.detail})" if c.detail else ""))
    return lines


def render_text(results: list[ScenarioResult]) -> str:
    parts = [text_table(HEADER, summary_rows(results)), "", text_table(FAULT_HEADER, fault_rows(results)), ""]
    parts += check_lines(results)
    for r in results:
        for kind, examples in r.examples.items():
            parts.append(f"  {r.name} {kind}: {examples}")
    return "\n".join(parts)


def render_markdown(results: list[ScenarioResult], meta: dict[str, Any]) -> str:
    parts = [
        BEGIN,
        f"Latest run: `{meta['command']}` on {meta['finished']} ({meta['duration_min']:.1f} min, "
        f"seed {meta['seed']}, ENVIRONMENT={meta['environment']}, "
        f"Kafka {meta['kafka']}, {meta['postgres']}). Its JSON report: "
        f"[`{COMMITTED_JSON}`](results/{Path(COMMITTED_JSON).name}).",
        "",
        markdown_table(HEADER, summary_rows(results)),
        "",
        "Recovery after each fault:",
        "",
        markdown_table(FAULT_HEADER, fault_rows(results)),
        "",
        "Checks:",
        "",
        *check_lines(results),
        END,
    ]
    return "\n".join(parts)


def update_doc(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def write_json(path: Path, results: list[ScenarioResult], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "meta": meta,
        "passed": all(r.passed for r in results),
        "scenarios": [r.to_json() for r in results],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path) -> tuple[list[ScenarioResult], dict[str, Any]]:
    """The scenarios and the metadata of a report written by ``write_json``."""
    data = json.loads(path.read_text())
    return [ScenarioResult.from_json(raw) for raw in data["scenarios"]], data["meta"]


def doc_section(text: str) -> str | None:
    """The generated section of a document's text, markers included (None when absent)."""
    match = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), text, flags=re.S)
    return match.group(0) if match else None


__all__ = [
    "COMMITTED_JSON",
    "doc_section",
    "read_json",
    "render_markdown",
    "render_text",
    "update_doc",
    "write_json",
]
