"""Every figure of docs/reliability.md and docs/performance.md can be checked from the repository.

- the generated section of each page is exactly what its committed JSON report renders
  (``docs/results/faults.json`` by ``scripts/faults``, ``docs/results/bench.json`` by
  ``scripts/bench --record``): a figure edited by hand, or a report not committed, fails;
- the codec comparison quoted in performance.md is the committed ``compare-codecs.txt``;
- every ``.json`` file a document names exists in the repository (no git-ignored
  ``bench-results/`` or ``/tmp`` reports).
"""

from __future__ import annotations

import json
import re

from doc_blocks import MARKDOWN_FILES, REPO_ROOT
from fault_injection import report as faults_report

from omnibase_infra.bench import comparison, fetch_stall, goals, writer_split
from omnibase_infra.bench import report as bench_report

RESULTS = REPO_ROOT / "docs" / "results"
_JSON_NAME = re.compile(r"[\w./-]+\.json\b")


def test_reliability_section_is_rendered_from_the_committed_fault_report() -> None:
    results, meta = faults_report.read_json(REPO_ROOT / faults_report.COMMITTED_JSON)
    page = (REPO_ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert faults_report.doc_section(page) == faults_report.render_markdown(results, meta)


def test_performance_section_is_rendered_from_the_committed_bench_report() -> None:
    result = json.loads((RESULTS / "bench.json").read_text(encoding="utf-8"))
    page = (REPO_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert bench_report.doc_section(page) == bench_report.render_markdown(result, "results/bench.json")


def test_every_json_report_a_document_names_is_in_the_repository() -> None:
    missing: list[str] = []
    for path in MARKDOWN_FILES:
        text = path.read_text(encoding="utf-8")
        for name in _JSON_NAME.findall(text):
            if "results/" not in name and "bench-results" not in name:
                continue  # other JSON names: openapi.json, package files, examples
            candidates = (REPO_ROOT / name, path.parent / name)
            if not any(c.is_file() for c in candidates):
                missing.append(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert not missing, "documents name reports that are not committed:\n" + "\n".join(missing)


def test_the_codec_comparison_quoted_is_the_committed_output() -> None:
    """performance.md's ``$ scripts/compare-codecs`` block is docs/results/compare-codecs.txt."""
    page = (REPO_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    quoted = re.search(r"```console\n\$ scripts/compare-codecs\n(.*?)```", page, flags=re.S)
    assert quoted, "performance.md quotes no `$ scripts/compare-codecs` console block"
    committed = (RESULTS / "compare-codecs.txt").read_text(encoding="utf-8")
    assert quoted.group(1) == committed


def test_the_redesign_comparison_is_rendered_from_the_committed_reports() -> None:
    before = json.loads((RESULTS / "redesign-before.json").read_text(encoding="utf-8"))
    after = json.loads((RESULTS / "redesign-after.json").read_text(encoding="utf-8"))
    assert before["versions"]["git"] == "43959eb"  # the commit before the redesign
    page = (REPO_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    expected = comparison.render_comparison(before, after, "before (43959eb)", "after (the node redesign)")
    assert comparison.comparison_section(page) == expected


def test_the_second_round_table_is_rendered_from_the_committed_reports() -> None:
    """performance.md's issue #16 table: the run before the round against the recorded run."""
    before = json.loads((RESULTS / "round2-before.json").read_text(encoding="utf-8"))
    after = json.loads((RESULTS / "bench.json").read_text(encoding="utf-8"))
    assert before["versions"]["git"] == "a52ad95"  # the commit before the second round
    page = (REPO_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    expected = goals.render_goal_table(
        before, after, "before (a52ad95)", f"after ({after['versions']['git']})"
    )
    assert goals.goal_section(page) == expected


def test_the_writer_split_table_is_rendered_from_the_committed_report() -> None:
    """performance.md's writer table (one connection against a split batch) is the JSON's."""
    report = json.loads((RESULTS / "writer-split.json").read_text(encoding="utf-8"))
    page = (REPO_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert writer_split.section(page) == writer_split.render_table(report)


def test_the_fetch_stall_table_is_rendered_from_the_committed_report() -> None:
    """performance.md's table of a command's wait behind a fetch of idle topics is the JSON's."""
    report = json.loads((RESULTS / "fetch-stall.json").read_text(encoding="utf-8"))
    page = (REPO_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert fetch_stall.section(page) == fetch_stall.render_table(report)
