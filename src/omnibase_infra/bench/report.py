"""The run's verdicts and its table: ratios to the ceilings and the peer, targets met or not."""

from __future__ import annotations

from typing import Any

from omnibase_infra.bench import goals


def add_ratios(result: dict[str, Any]) -> None:
    """The ratios and target verdicts of a run, added to ``result``."""
    cases = result["cases"]
    ratios: dict[str, float] = {}
    ceilings_found = [cases[k]["events_per_s"] for k in ("1a_kafka_ceiling", "1b_copy_ceiling") if k in cases]
    store = cases.get("2_event_store", {}).get("events_per_s")
    if store and len(ceilings_found) == 2:
        ratios["event_store_vs_min_ceiling"] = store / min(ceilings_found)
        ratios["steady_event_store_vs_min_ceiling"] = cases["2_event_store"]["steady_events_per_s"] / min(
            ceilings_found
        )
    scaled = cases.get("2b_scale_out", {}).get("events_per_s")
    if scaled and len(ceilings_found) == 2:
        ratios["scale_out_vs_min_ceiling"] = scaled / min(ceilings_found)
    if store and "7_peer" in cases:
        ratios["event_store_vs_peer"] = store / cases["7_peer"]["events_per_s"]
        ratios["steady_event_store_vs_peer"] = cases["2_event_store"]["steady_events_per_s"] / max(
            1e-9, cases["7_peer"]["steady_events_per_s"]
        )
    result["ratios"] = ratios
    # The verdicts are the goals of issue #16 (``goals``), plus the soak's.
    targets: dict[str, Any] = dict(goals.verdicts(result))
    if "6b_soak" in cases:
        soaked = cases["6b_soak"]
        grew = soaked["rss_last_mib"] - soaked["rss_at_60s_mib"]
        targets["no RSS growth over the soak (<= 5 MiB after minute one)"] = grew <= 5.0
    result["targets_met"] = targets


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return str(value)


def table_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(case, figures) for every case of the run, then the ratios and the target verdicts."""
    cases = result["cases"]
    rows: list[tuple[str, str, str]] = []

    def add(key: str, label: str, fields: list[tuple[str, str]]) -> None:
        if key in cases:
            rows.append(
                (label, ", ".join(f"{n} {_fmt(cases[key][f])}" for f, n in fields if f in cases[key]), "")
            )
        elif key in result["errors"]:
            rows.append((label, "FAILED: " + result["errors"][key].splitlines()[0][:90], ""))

    add(
        "1a_kafka_ceiling",
        "1a kafka ceiling",
        [
            ("events_per_s", "events/s"),
            ("mb_per_s", "MB/s"),
            ("machine_cpu_us_per_event", "machine CPU us/event"),
        ],
    )
    add(
        "1b_copy_ceiling",
        "1b copy ceiling",
        [("events_per_s", "rows/s"), ("machine_cpu_us_per_event", "machine CPU us/row")],
    )
    add(
        "1c_writer_alone",
        "1c write_events alone",
        [("events_per_s", "rows/s"), ("batch", "batch"), ("write_connections", "connections")],
    )
    add(
        "1c_writer_one_connection",
        "1c write_events alone, one connection",
        [("events_per_s", "rows/s"), ("batch", "batch"), ("write_connections", "connections")],
    )
    add(
        "2b_scale_out",
        "2b event store, N instances",
        [
            ("instances", "instances"),
            ("events_per_s", "events/s"),
            ("steady_events_per_s", "steady/s"),
            ("service_cpu_us_per_event", "CPU us/event"),
            ("machine_cpu_us_per_event", "machine CPU us/event"),
        ],
    )
    add(
        "2_event_store",
        "2 event store",
        [
            ("events_per_s", "events/s"),
            ("steady_events_per_s", "steady/s"),
            ("startup_to_first_commit_s", "startup s"),
            ("service_cpu_us_per_event", "CPU us/event"),
            ("steady_cpu_us_per_event", "CPU us/event after first commit"),
            ("machine_cpu_us_per_event", "machine CPU us/event"),
            ("broker_cpu_us_per_event", "broker CPU us/event"),
            ("postgres_cpu_us_per_event", "PostgreSQL CPU us/event"),
        ],
    )
    if "service_start_to_first_commit_s" in cases.get("2_event_store", {}):
        add(
            "2_event_store",
            "2 start → first commit",
            [
                ("startup_to_first_commit_s", "process start s"),
                ("process_to_service_start_s", "of which imports and contracts s"),
                ("service_start_to_first_commit_s", "service start s"),
            ],
        )
    latency_fields = [
        ("offered_per_s", "rate/s"),
        ("achieved_per_s", "achieved/s"),
        ("p50_ms", "p50 ms"),
        ("p99_ms", "p99 ms"),
        ("max_ms", "max ms"),
    ]
    add("3a_latency_floor", "3a latency floor (Kafka only)", latency_fields)
    add("3_latency", "3 latency", latency_fields)
    add("3c_latency_floor_20k", "3c latency floor (Kafka only), high rate", latency_fields)
    add("3b_latency_20k", "3b latency, high rate", latency_fields)
    add(
        "4_operations",
        "4 operations",
        [("offered_per_s", "rate/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms")],
    )
    add(
        "4b_operations_saturation",
        "4b operations at saturation",
        [
            ("commands_per_s", "commands/s"),
            ("window", "window"),
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
            ("service_cpu_us_per_command", "CPU us/command"),
            ("service_cpu_busy_pct", "service % of a core"),
            ("machine_cpu_us_per_command", "machine CPU us/command"),
            ("bench_client_cpu_us_per_command", "bench client CPU us/command"),
            ("broker_cpu_us_per_command", "broker CPU us/command"),
            ("postgres_cpu_us_per_command", "PostgreSQL CPU us/command"),
            ("machine_cpu_busy_pct", "machine busy %"),
        ],
    )
    add("5_outbox", "5 outbox relay", [("rows_per_s", "rows/s"), ("rows", "rows")])
    add(
        "5b_outbox_idle_latency",
        "5b outbox idle latency",
        [("rows", "rows"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms")],
    )
    add("2_event_store", "6 RSS during case 2", [("rss_peak_mib", "peak MiB")])
    add("6_memory_after_case_2", "6 RSS after case 2", [("rss_mib", "MiB")])
    add(
        "6b_soak",
        "6b RSS soak",
        [
            ("seconds", "s"),
            ("rss_at_60s_mib", "MiB at 60 s"),
            ("rss_last_mib", "MiB at end"),
            ("rss_trend_mib_per_min_after_60s", "MiB/min"),
        ],
    )
    add(
        "7_peer",
        "7 peer (Debezium JDBC)",
        [
            ("events_per_s", "events/s"),
            ("steady_events_per_s", "steady/s"),
            ("startup_to_first_commit_s", "startup s"),
            ("cpu_us_per_event", "CPU us/event"),
            ("machine_cpu_us_per_event", "machine CPU us/event"),
        ],
    )
    if "7_peer" not in cases and "7_peer" in result["errors"]:
        rows.append(
            ("7 peer (Debezium JDBC)", "UNAVAILABLE: " + result["errors"]["7_peer"].splitlines()[0][:80], "")
        )
    for k, v in result.get("ratios", {}).items():
        rows.append((k, f"{v:.2f}", ""))
    for k, ok in result.get("targets_met", {}).items():
        rows.append(("target: " + k, "met" if ok else "NOT met", ""))
    return [(label, value) for label, value, _ in rows]


def print_table(result: dict[str, Any]) -> None:
    rows = table_rows(result)
    width = max(len(r[0]) for r in rows) if rows else 10
    print()
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print()


BEGIN = "<!-- bench:begin (written by scripts/bench --record; do not edit by hand) -->"
END = "<!-- bench:end -->"


def render_markdown(result: dict[str, Any], json_link: str) -> str:
    """The generated section of docs/performance.md: the run's table, rendered from its JSON."""
    machine = result.get("machine", {})
    git = result.get("versions", {}).get("git", "?")
    loads = [
        case[key]
        for case in result["cases"].values()
        if isinstance(case, dict)
        for key in ("load_avg_before", "load_avg_after")
        if isinstance(case.get(key), int | float)
    ]
    load = f"load average {min(loads):.1f} to {max(loads):.1f}" if loads else "load not recorded"
    lines = [
        BEGIN,
        f"Recorded run: `{result.get('command', 'scripts/bench')}`, git {git}, "
        f"{machine.get('nproc', '?')} cores, {load}, {result.get('wall_seconds', '?')} s. "
        f"Its JSON: [`docs/results/bench.json`]({json_link}).",
        "",
        "| case | figures |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in table_rows(result)),
        END,
    ]
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    """``text`` with its generated section replaced by ``section`` (appended when absent)."""
    start, end = text.find(BEGIN), text.find(END)
    if start == -1 or end == -1:
        return text.rstrip() + "\n\n" + section + "\n"
    return text[:start] + section + text[end + len(END) :]


def doc_section(text: str) -> str | None:
    """The generated section of a document's text, markers included (None when absent)."""
    start, end = text.find(BEGIN), text.find(END)
    return None if start == -1 or end == -1 else text[start : end + len(END)]
