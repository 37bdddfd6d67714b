"""The shortened fault-injection run (``scripts/faults --quick``) against servers of its own.

``scripts/faults`` starts a separate PostgreSQL and Kafka (its own state directory and
ports, below, apart from those of a full ``scripts/faults`` run too) so that killing,
restarting and freezing them never disturbs the servers the other integration tests
share. Every scenario must lose nothing and store nothing twice; the script's own checks
(DLQ coordinates, outbox delivery, health, statements) must all pass.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
QUICK_TIMEOUT_SECONDS = 900
QUICK_SERVERS = {
    "ONEX_FAULTS_STATE_DIR": "/tmp/onex-svc-faults-quick",
    "ONEX_FAULTS_POSTGRES_PORT": "31442",
    "ONEX_FAULTS_KAFKA_PORT": "31192",  # extra listeners: 31194-31196
    "ONEX_FAULTS_KAFKA_CONTROLLER_PORT": "31193",
}


def test_quick_fault_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    report = tmp_path / "faults.json"
    env = {**os.environ, **QUICK_SERVERS}
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "faults"), "--quick", "--json", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_SECONDS,
        check=False,
    )
    output = done.stdout[-20000:] + done.stderr[-8000:]
    assert report.exists(), f"scripts/faults --quick wrote no report (exit {done.returncode}):\n{output}"
    data = json.loads(report.read_text())
    scenarios = {s["name"]: s for s in data["scenarios"]}
    assert set(scenarios) == {
        "service-kill",
        "postgres-restart",
        "broker-kill",
        "broker-freeze",
        "scale-out",
        "hostile",
        "poison-commands",
        "bad-outbox-rows",
    }, output
    for name, scenario in scenarios.items():
        assert scenario["error"] is None, f"{name}: {scenario['error']}\n{output}"
        assert scenario["lost"] == 0, f"{name}: {scenario['lost']} lost\n{output}"
        assert scenario["duplicated"] == 0, f"{name}: {scenario['duplicated']} duplicated\n{output}"
        assert scenario["misplaced"] == 0 and scenario["phantom"] == 0, f"{name}: misplaced\n{output}"
        injects_records = name in ("hostile", "bad-outbox-rows")  # bad input, not a server fault
        assert scenario["faults"] or injects_records, f"{name}: no fault was injected\n{output}"
        failed = [c for c in scenario["checks"] if not c["ok"]]
        assert not failed, f"{name}: {failed}\n{output}"
    assert done.returncode == 0, output
