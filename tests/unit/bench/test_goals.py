"""The issue #16 goals read the right figure of a bench report and judge it against its bound."""

from __future__ import annotations

from typing import Any

from omnibase_infra.bench import goals


def _report(**overrides: dict[str, Any]) -> dict[str, Any]:
    cases: dict[str, Any] = {
        "1a_kafka_ceiling": {"events_per_s": 400_000.0},
        "1b_copy_ceiling": {"events_per_s": 80_000.0},
        "2_event_store": {
            "events_per_s": 70_000.0,
            "steady_events_per_s": 76_000.0,
            "startup_to_first_commit_s": 0.4,
            "service_cpu_us_per_event": 9.5,
            "machine_cpu_us_per_event": 25.0,
            "rss_peak_mib": 130.0,
        },
        "3a_latency_floor": {"offered_per_s": 2_000.0, "p99_ms": 3.0},
        "3_latency": {"offered_per_s": 2_000.0, "p99_ms": 8.0},
        "3c_latency_floor_20k": {"offered_per_s": 20_000.0, "p99_ms": 5.0},
        "3b_latency_20k": {"offered_per_s": 20_000.0, "p99_ms": 11.0},
        "7_peer": {"events_per_s": 20_000.0},
    }
    cases.update(overrides)
    return {"cases": cases}


def _goal(label: str) -> goals.Goal:
    return next(g for g in goals.GOALS if g.label == label)


def test_the_store_ratio_is_taken_against_the_lower_ceiling() -> None:
    assert _goal("event store / min(1a, 1b), whole run").read(_report()) == 70_000.0 / 80_000.0


def test_the_latency_goal_reads_the_case_offered_at_its_rate_not_the_floor() -> None:
    report = _report()
    assert _goal("latency p99 at 20,000 events/s, ms").read(report) == 11.0
    assert _goal("Kafka-only floor p99 at 20,000 events/s, ms").read(report) == 5.0
    assert _goal("latency p99 at 2,000 events/s, ms").read(report) == 8.0


def test_verdicts_judge_each_bound_and_skip_what_the_run_did_not_measure() -> None:
    found = goals.verdicts(_report())
    assert found[f"event store / min(1a, 1b), whole run ≥ 0.85{goals.X}"] is True
    assert found["service CPU per stored event, µs ≤ 9.0"] is False
    assert found[f"event store / Debezium JDBC sink ≥ 4.00{goals.X}"] is False  # 3.5 times
    assert found["latency p99 at 20,000 events/s, ms ≤ 12.0"] is True
    assert not any(label.startswith("outbox") for label in found)  # no outbox case in this run
    assert not any(label.startswith("machine CPU") for label in found)  # reported, no bound


def test_the_table_marks_unmeasured_figures_and_missed_goals() -> None:
    before = _report(**{"2_event_store": {"events_per_s": 40_000.0, "rss_peak_mib": 120.0}})
    table = goals.render_goal_table(before, _report(), "before", "after")
    assert goals.goal_section("text\n" + table + "\nmore") == table
    row = next(line for line in table.splitlines() if line.startswith("| service CPU"))
    assert row == "| service CPU per stored event, µs | not measured | 9.5 | ≤ 9.0 | **no** |"
    outbox = next(line for line in table.splitlines() if line.startswith("| outbox relay"))
    assert outbox.endswith("| ≥ 25,000 | not measured |")
