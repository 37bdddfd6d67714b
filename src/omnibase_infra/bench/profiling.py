"""Optional: sample the service with py-spy during case 2 and summarise where its time goes.

``scripts/bench --profile-seconds S`` attaches ``py-spy record --pid`` (a dev tool, install
it into the venv: ``pip install py-spy``) to the service for S seconds of case 2 and writes
the collapsed stacks next to the run's logs; the summary lists the functions with the most
inclusive and self samples.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    tool = py_spy()
    if tool is None:
        return None
    command = [
        tool,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(text: str) -> str:
    # py-spy raw frames look like "function (path/to/module.py:123)".
    name, _, where = text.partition(" (")
    module = where.rsplit("/", 1)[-1].split(":")[0]
    return f"{module}:{name}"


def summarise(path: Path, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """Inclusive and self shares (percent of samples) of the busiest functions."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    if total == 0:
        return {"inclusive": [], "self": []}
    return {
        "inclusive": [(n, round(100 * c / total, 1)) for n, c in inclusive.most_common(top)],
        "self": [(n, round(100 * c / total, 1)) for n, c in own.most_common(top)],
    }
