"""``scripts/test`` runs the integration suite in two phases; the split must be exact.

``--exclusive skip`` (run on several xdist workers at once) must leave out every test that
stops, pauses or kills a shared server, ``--exclusive only`` (run alone afterwards) must hold
exactly those, and the two phases together must be the whole suite, each test once.
Only collection runs here (``--collect-only``): no server is needed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _collect(phase: str) -> tuple[list[str], int]:
    """The test ids ``--exclusive <phase>`` keeps, and how many tests the suite has in all."""
    command = [sys.executable, "-m", "pytest", "tests/integration", "--collect-only", "-q"]
    done = subprocess.run(
        [*command, "-p", "no:cacheprovider", "--exclusive", phase],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", done.stdout)
    assert summary, done.stdout[-2000:]
    kept = [line for line in done.stdout.splitlines() if "::" in line]
    assert len(kept) == int(summary[1])
    return kept, int(summary[2])


def test_the_two_phases_split_the_suite_and_only_the_outage_tests_run_alone() -> None:
    shared, total = _collect("skip")
    alone, total_again = _collect("only")

    assert total == total_again
    assert len(shared) + len(alone) == total
    assert not set(shared) & set(alone)

    # The outage files stop PostgreSQL and Kafka (the pg_admin fixture); the start-up refusals
    # bound a whole service start; the PostgreSQL rotation reads every session of the service's
    # application_name (the last two are marked exclusive). They run alone, nothing else does.
    def file_of(test: str) -> str:
        return Path(test.split("::", maxsplit=1)[0]).name

    outage_files = {file_of(test) for test in alone if file_of(test).startswith("test_zz_")}
    assert outage_files, "no outage test in the exclusive phase"
    assert {file_of(test) for test in alone} == outage_files | {
        "test_startup_refusals.py",
        "test_credential_rotation.py",
    }
    assert [test for test in alone if file_of(test) == "test_credential_rotation.py"] == [
        "tests/integration/vault/test_credential_rotation.py::"
        "test_postgres_password_then_user_rotate_while_events_stream"
    ]
    assert not [test for test in shared if file_of(test) in outage_files | {"test_startup_refusals.py"}]
