"""A before/after table of two ``scripts/bench`` reports, as docs/performance.md quotes it.

The table between ``<!-- redesign:begin -->`` and ``<!-- redesign:end -->`` is this
function's output for the two committed reports (``tests/unit/docs/test_results_files.py``):
event-store events/s and its ratio to the lower ceiling, service and machine CPU per
event, p99 at the latency case's rate and of the operations case, then the ratios the
node redesign was held to.
"""

from __future__ import annotations

from typing import Any

from omnibase_infra.bench.tool_reports import block_between

BEGIN = "<!-- redesign:begin -->"
END = "<!-- redesign:end -->"
X = "\N{MULTIPLICATION SIGN}"


def _ceiling(report: dict[str, Any]) -> float:
    cases = report["cases"]
    return float(min(cases["1a_kafka_ceiling"]["events_per_s"], cases["1b_copy_ceiling"]["events_per_s"]))


def _row(label: str, report: dict[str, Any]) -> str:
    cases = report["cases"]
    store = cases["2_event_store"]
    return (
        f"| {label} | {store['events_per_s']:,.0f} | {store['events_per_s'] / _ceiling(report):.2f} "
        f"| {store['service_cpu_us_per_event']:.1f} | {store['machine_cpu_us_per_event']:.1f} "
        f"| {cases['3_latency']['p99_ms']:.1f} | {cases['4_operations']['p99_ms']:.1f} |"
    )


def render_comparison(
    before: dict[str, Any], after: dict[str, Any], before_label: str, after_label: str
) -> str:
    """The section, markers included."""
    b, a = before["cases"]["2_event_store"], after["cases"]["2_event_store"]
    return "\n".join(
        [
            BEGIN,
            "| run | event store events/s | ratio to min(1a, 1b) | service CPU µs/event "
            "| machine CPU µs/event | p99 ms at 2,000/s | operations p99 ms at 50/s |",
            "|---|---|---|---|---|---|---|",
            _row(before_label, before),
            _row(after_label, after),
            "",
            f"After / before: events/s {a['events_per_s'] / b['events_per_s']:.2f}{X} "
            f"(required ≥ 0.95{X}), machine CPU per event "
            f"{a['machine_cpu_us_per_event'] / b['machine_cpu_us_per_event']:.2f}{X} (required ≤ 1.05{X}), "
            f"p99 at 2,000 events/s {after['cases']['3_latency']['p99_ms']:.1f} ms (required ≤ 50 ms).",
            END,
        ]
    )


def comparison_section(text: str) -> str | None:
    return block_between(text, BEGIN, END)


__all__ = ["BEGIN", "END", "comparison_section", "render_comparison"]
