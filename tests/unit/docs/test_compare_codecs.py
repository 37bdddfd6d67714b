"""``scripts/compare-codecs``, quoted in docs/performance.md, still runs and compares every codec.

Only its shape and sizes are checked (no timing assertion): a line per codec, each reading back
what it wrote, and every compressing codec smaller than no codec on the service's envelopes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_every_codec_is_measured_and_compresses_envelopes() -> None:
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "compare-codecs"), "20", "2"], capture_output=True, text=True, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("20 envelopes per batch (")
    sizes = {line.split()[0]: int(line.split()[1]) for line in lines[2:]}
    assert list(sizes) == ["none", "gzip", "snappy", "lz4", "zstd"]
    assert all(sizes[codec] < sizes["none"] for codec in ("gzip", "snappy", "lz4", "zstd"))
    assert "scripts/compare-codecs" in (REPO_ROOT / "docs" / "performance.md").read_text()
