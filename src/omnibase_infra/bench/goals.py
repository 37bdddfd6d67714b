"""The performance goals of the second round (issue #16) and one run's figures against them.

Each goal reads one figure from a ``scripts/bench`` report (``None`` when the run did not
measure it: a case skipped, or a report written before the case existed). The bench's own
verdicts (``targets_met``) and the before/after table of docs/performance.md (between
``<!-- round2:begin -->`` and ``<!-- round2:end -->``, checked against the committed reports by
``tests/unit/docs/test_results_files.py``) are both built from this one list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omnibase_infra.bench.tool_reports import block_between

BEGIN = "<!-- round2:begin -->"
END = "<!-- round2:end -->"
X = "\N{MULTIPLICATION SIGN}"

Report = dict[str, Any]


def _case(report: Report, key: str, field: str) -> float | None:
    value = report["cases"].get(key, {}).get(field)
    return None if value is None else float(value)


def _ceiling(report: Report) -> float | None:
    kafka = _case(report, "1a_kafka_ceiling", "events_per_s")
    copy = _case(report, "1b_copy_ceiling", "events_per_s")
    return None if kafka is None or copy is None else min(kafka, copy)


def _store_ratio(field: str) -> Callable[[Report], float | None]:
    def read(report: Report) -> float | None:
        store, ceiling = _case(report, "2_event_store", field), _ceiling(report)
        return None if store is None or ceiling is None else store / ceiling

    return read


def _vs_peer(report: Report) -> float | None:
    store, peer = _case(report, "2_event_store", "events_per_s"), _case(report, "7_peer", "events_per_s")
    return None if store is None or peer is None else store / peer


def latency_case(report: Report, rate: float, *, floor: bool) -> dict[str, Any] | None:
    """The latency case (or its Kafka-only floor) the run offered ``rate`` events/s in."""
    for key, case in report["cases"].items():
        if not key.startswith("3") or ("floor" in key) != floor:
            continue
        if isinstance(case, dict) and case.get("offered_per_s") == rate:
            return case
    return None


def _latency_p99(rate: float, *, floor: bool = False) -> Callable[[Report], float | None]:
    def read(report: Report) -> float | None:
        case = latency_case(report, rate, floor=floor)
        return None if case is None else float(case["p99_ms"])

    return read


def _field(key: str, field: str) -> Callable[[Report], float | None]:
    return lambda report: _case(report, key, field)


@dataclass(frozen=True)
class Goal:
    """One figure of the issue and the bound it must meet (``None``: reported, no bound)."""

    label: str
    read: Callable[[Report], float | None]
    at_least: float | None = None
    at_most: float | None = None
    digits: int = 1
    unit: str = ""

    def met(self, value: float) -> bool | None:
        if self.at_least is not None:
            return value >= self.at_least
        if self.at_most is not None:
            return value <= self.at_most
        return None

    def bound(self) -> str:
        if self.at_least is not None:
            return f"≥ {self._format(self.at_least)}"
        if self.at_most is not None:
            return f"≤ {self._format(self.at_most)}"
        return ""

    def _format(self, value: float) -> str:
        return f"{value:,.{self.digits}f}{self.unit}"

    def show(self, report: Report) -> str:
        value = self.read(report)
        return "not measured" if value is None else self._format(value)


GOALS: tuple[Goal, ...] = (
    Goal(
        "event store / min(1a, 1b), whole run", _store_ratio("events_per_s"), at_least=0.85, digits=2, unit=X
    ),
    Goal(
        "event store / min(1a, 1b), first to last commit",
        _store_ratio("steady_events_per_s"),
        digits=2,
        unit=X,
    ),
    Goal(
        "start to first commit, s",
        _field("2_event_store", "startup_to_first_commit_s"),
        at_most=0.5,
        digits=2,
    ),
    Goal(
        "service start (imports and contracts done) to first commit, s",
        _field("2_event_store", "service_start_to_first_commit_s"),
        digits=2,
    ),
    Goal("event store / Debezium JDBC sink", _vs_peer, at_least=4.0, digits=2, unit=X),
    Goal(
        "service CPU per stored event, µs", _field("2_event_store", "service_cpu_us_per_event"), at_most=9.0
    ),
    Goal("machine CPU per stored event, µs", _field("2_event_store", "machine_cpu_us_per_event")),
    Goal("latency p99 at 20,000 events/s, ms", _latency_p99(20_000.0), at_most=12.0),
    Goal("Kafka-only floor p99 at 20,000 events/s, ms", _latency_p99(20_000.0, floor=True)),
    Goal("latency p99 at 2,000 events/s, ms", _latency_p99(2_000.0)),
    Goal("operations p50 at 50 commands/s, ms", _field("4_operations", "p50_ms"), at_most=5.0),
    Goal("operations p99 at 50 commands/s, ms", _field("4_operations", "p99_ms"), at_most=10.0),
    Goal(
        "operations at saturation (one-row read), commands/s",
        _field("4b_operations_saturation", "commands_per_s"),
        at_least=3000.0,
        digits=0,
    ),
    Goal("outbox relay, rows/s", _field("5_outbox", "rows_per_s"), at_least=25_000.0, digits=0),
    Goal("outbox idle latency p50, ms", _field("5b_outbox_idle_latency", "p50_ms"), at_most=10.0),
    Goal("peak RSS during case 2, MiB", _field("2_event_store", "rss_peak_mib"), at_most=250.0, digits=0),
)


def verdicts(report: Report) -> dict[str, bool]:
    """Each bounded goal the run measured: met or not (the bench's ``targets_met``)."""
    found: dict[str, bool] = {}
    for goal in GOALS:
        value = goal.read(report)
        met = None if value is None else goal.met(value)
        if met is not None:
            found[f"{goal.label} {goal.bound()}"] = met
    return found


def render_goal_table(before: Report, after: Report, before_label: str, after_label: str) -> str:
    """The before/after table of docs/performance.md, markers included."""
    lines = [
        BEGIN,
        f"| figure | {before_label} | {after_label} | goal | met |",
        "|---|---|---|---|---|",
    ]
    for goal in GOALS:
        value = goal.read(after)
        met = None if value is None else goal.met(value)
        bound = goal.bound()
        verdict = "" if not bound else ("not measured" if met is None else ("yes" if met else "**no**"))
        lines.append(f"| {goal.label} | {goal.show(before)} | {goal.show(after)} | {bound} | {verdict} |")
    lines.append(END)
    return "\n".join(lines)


def goal_section(text: str) -> str | None:
    return block_between(text, BEGIN, END)


__all__ = ["BEGIN", "END", "GOALS", "Goal", "goal_section", "latency_case", "render_goal_table", "verdicts"]
