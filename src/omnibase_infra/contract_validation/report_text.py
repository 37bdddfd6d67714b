"""The human form of a ``ModelCheckReport`` (``onex-infra contracts check`` without ``--json``)."""

from __future__ import annotations

from omnibase_infra.contract_validation.problems import ModelCheckReport, ModelFileReport


def _label(report: ModelFileReport) -> str:
    what = report.kind if report.name is None else f"{report.kind} {report.name}"
    return f"{report.file} ({what}, {report.origin})"


def render_report(report: ModelCheckReport) -> str:
    """One line per file (``ok`` or ``FAIL``), every problem under its file, then a verdict."""
    lines: list[str] = []
    for file in report.files:
        if file.valid:
            lines.append(f"ok    {_label(file)}")
            continue
        count = len(file.problems)
        lines.append(f"FAIL  {_label(file)}: {count} problem{'s' if count != 1 else ''}")
        for problem in file.problems:
            where = f"line {problem.line}: " if problem.line else ""
            lines.append(
                f"      {where}{problem.key_path or '<document>'}: {problem.reason} [{problem.stage}]"
            )
    lines.extend(f"note: {note}" for note in report.notes)
    if not report.core_validation:
        lines.append("note: omnibase-core contract models were not run")
    if report.valid and not report.class_validation:
        lines.append("note: the steps were not compared with the node classes (@operation)")
    if report.valid:
        s = report.summary
        lines.append(
            f"valid: {len(report.files)} files, {s.nodes} nodes, {s.operations} operations, "
            f"{s.workflows} workflows, {s.topics} topics"
        )
    else:
        failed = sum(1 for f in report.files if not f.valid)
        lines.append(f"invalid: {len(report.problems)} problems in {failed} of {len(report.files)} files")
    return "\n".join(lines)


__all__ = ["render_report"]
