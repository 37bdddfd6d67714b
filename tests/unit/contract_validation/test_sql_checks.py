"""Placeholders, statements and write keywords are found outside literals and comments only."""

from __future__ import annotations

import pytest

from omnibase_infra.contract_validation.sql_checks import (
    blank_literals,
    placeholder_numbers,
    placeholder_problems,
    statement_problems,
    write_keywords,
)


def test_literals_identifiers_comments_and_dollar_quotes_are_ignored() -> None:
    sql = """SELECT $1, '$2 -- x', "col$3" FROM t -- DELETE $4
    /* UPDATE /* nested */ $5 */ WHERE a = $$ $6 $$ AND b = $tag$ $7 $tag$ AND c = $2"""
    assert placeholder_numbers(sql) == {1, 2}
    assert write_keywords(sql) == []
    assert "DELETE" not in blank_literals(sql)


def test_placeholders_must_be_exactly_one_to_n() -> None:
    assert placeholder_problems("SELECT $1, $2", ("a", "b")) == []
    assert placeholder_problems("SELECT $1, $3", ("a", "b")) == [
        "SQL uses $3 but the operation declares 2 parameter(s)",
        "declared parameter(s) $2 (b) not used by the SQL",
    ]
    assert placeholder_problems("SELECT $0", ()) == ["SQL uses $0 but the operation declares 0 parameter(s)"]


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("SELECT * FROM t", []),
        ("select * from t for update", ["FOR UPDATE"]),
        ("SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", ["FOR NO KEY UPDATE"]),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", ["DELETE"]),
        ("insert into t values (1)", ["INSERT"]),
        ("SELECT update_count, deleted FROM t", []),
        ("TRUNCATE t", ["TRUNCATE"]),
    ],
)
def test_write_keywords(sql: str, found: list[str]) -> None:
    assert write_keywords(sql) == found


def test_one_statement_only() -> None:
    assert statement_problems("SELECT 1;") == []
    assert statement_problems("SELECT ';'") == []
    assert statement_problems("SELECT 1; SELECT 2") == ["SQL holds more than one statement"]
    assert statement_problems("  ;  ") == ["SQL is empty"]
