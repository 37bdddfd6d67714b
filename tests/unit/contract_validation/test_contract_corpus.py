"""Every broken contract in ``tests/unit/contract_corpus`` is rejected with the expected key path.

Each corpus file states what it breaks in its first two lines::

    # expect-path: environment_config.circuit_breaker.production.failure_threshold
    # expect-reason: below the minimum

The file is checked the way ``onex-infra contracts check FILE`` checks it (with the
shipped contracts); the report must hold a problem for that file at exactly that key
path whose reason contains the expected text, and no problem in any other file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibase_infra.contract_validation.loader import check_contracts

CORPUS = Path(__file__).parent.parent / "contract_corpus"
FILES = sorted(CORPUS.rglob("*.yaml"))


def _expectation(path: Path) -> tuple[str, str]:
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    assert first.startswith("# expect-path:") and second.startswith("# expect-reason:"), path
    return first.split(":", 1)[1].strip(), second.split(":", 1)[1].strip()


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 20
    breaker_cases = [f for f in FILES if f.name.startswith("cb_")]
    assert len(breaker_cases) == 10  # five fields, each below and above its range


@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(CORPUS)) for f in FILES])
def test_broken_contract_is_rejected_with_key_path(path: Path) -> None:
    key_path, reason = _expectation(path)
    report, contract_set = check_contracts([path])

    assert not report.valid
    assert contract_set is None
    own = [p for p in report.problems if p.file == str(path)]
    others = [p.render() for p in report.problems if p.file != str(path)]
    assert others == []
    rendered = "\n".join(p.render() for p in own)
    assert any(p.key_path == key_path and reason in p.reason for p in own), rendered
    assert all(p.file == str(path) and p.reason for p in own)
