"""YAML becomes JSON values with the line of every key; anything else is a located problem."""

from __future__ import annotations

from omnibase_infra.contract_validation.yaml_loader import parse_yaml


def test_lines_are_recorded_per_key_path() -> None:
    document, problems = parse_yaml("a: 1\nb:\n  c: [1, 2]\n  d:\n    - e: x\n", "f.yaml")
    assert problems == []
    assert document is not None
    assert document.data == {"a": 1, "b": {"c": [1, 2], "d": [{"e": "x"}]}}
    assert document.line_of("b.d[0].e") == 5
    assert document.line_of("b.c") == 3
    assert document.line_of("b.missing.deeper") == 2


def test_duplicate_and_non_string_keys_are_problems() -> None:
    _, problems = parse_yaml("a: 1\na: 2\n3: x\n", "f.yaml")
    assert [(p.key_path, p.line, p.reason) for p in problems] == [
        ("a", 2, "duplicate key 'a'"),
        ("", 3, "keys must be strings, got 3 (quote it)"),
    ]


def test_values_that_are_not_json_are_problems() -> None:
    _, problems = parse_yaml("when: 2026-01-01\nhow_much: .nan\n", "f.yaml")
    assert [p.key_path for p in problems] == ["when", "how_much"]


def test_invalid_yaml_names_the_line() -> None:
    document, problems = parse_yaml("a: [1\nb: 2\n", "f.yaml")
    assert document is None
    assert len(problems) == 1 and problems[0].stage == "yaml" and problems[0].line is not None
    assert problems[0].reason.startswith("invalid YAML")


def test_empty_and_multi_document_files_are_rejected() -> None:
    assert parse_yaml("", "f.yaml")[1][0].reason == "empty document"
    assert parse_yaml("a: 1\n---\nb: 2\n", "f.yaml")[1][0].reason.startswith("invalid YAML")


def test_merge_keys_and_aliases_resolve() -> None:
    document, problems = parse_yaml("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert problems == [] and document is not None
    assert document.data == {"base": {"x": 1}, "use": {"x": 1, "y": 2}}
