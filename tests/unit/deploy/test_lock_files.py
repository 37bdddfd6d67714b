"""The lock files stay in step with pyproject.toml, and the image and ``setup --locked`` install them.

``scripts/lock`` writes both; after a dependency change in pyproject.toml these tests fail until
it is run again. Extras count: ``aiokafka[lz4,snappy,zstd]`` needs what those extras require
(read from the installed distribution's metadata) in the lock too.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest
from deploy_facts import DEPLOY, dockerfile_instructions
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[3]
RUNTIME_LOCK = REPO_ROOT / "requirements.lock"
DEV_LOCK = REPO_ROOT / "requirements-dev.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


@cache
def project() -> dict[str, list[str]]:
    table = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return {"runtime": table["dependencies"], "dev": table["optional-dependencies"]["dev"]}


@cache
def locked(path: Path) -> dict[str, tuple[Version, int]]:
    """Canonical name → (pinned version, number of hashes) of every entry of a lock file."""
    entries: dict[str, tuple[Version, int]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match["name"])
            assert current not in entries, f"{path.name}: {current} is pinned twice"
            entries[current] = (Version(match["version"]), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    assert entries, f"{path.name} pins nothing"
    return entries


def extra_requirements(requirement: Requirement) -> list[Requirement]:
    """What the requirement's extras add, per the installed distribution's metadata."""
    declared = [Requirement(text) for text in importlib.metadata.requires(requirement.name) or []]
    return [
        r
        for r in declared
        for extra in requirement.extras
        if r.marker is not None and r.marker.evaluate({"extra": extra})
    ]


def _check(requirements: list[str], lock: Path) -> None:
    pins = locked(lock)
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.name} lacks {requirement.name} ({text}): run scripts/lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name} pins {name}=={version}, pyproject.toml asks {text}: run scripts/lock"
        )
        for added in extra_requirements(requirement):
            assert canonicalize_name(added.name) in pins, (
                f"{lock.name} lacks {added.name}, required by {text}'s extras: run scripts/lock"
            )


def test_every_runtime_dependency_is_locked_at_a_version_its_specifier_allows() -> None:
    _check(project()["runtime"], RUNTIME_LOCK)


def test_the_dev_lock_holds_the_runtime_and_dev_dependencies() -> None:
    _check(project()["runtime"] + project()["dev"], DEV_LOCK)


def test_the_dev_lock_keeps_the_runtime_pins() -> None:
    runtime, dev = locked(RUNTIME_LOCK), locked(DEV_LOCK)
    assert {name: dev[name][0] for name in runtime if name in dev} == {n: v for n, (v, _) in runtime.items()}


def test_the_codec_extras_bring_their_library() -> None:
    # The check above would pass vacuously if the metadata named no extra requirement.
    (aiokafka,) = [Requirement(t) for t in project()["runtime"] if Requirement(t).name == "aiokafka"]
    assert {"lz4", "snappy", "zstd"} <= aiokafka.extras
    assert "cramjam" in {canonicalize_name(r.name) for r in extra_requirements(aiokafka)}
    assert "cramjam" in locked(RUNTIME_LOCK)


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_pin_carries_hashes(lock: Path) -> None:
    assert [name for name, (_, hashes) in locked(lock).items() if hashes == 0] == []


def test_the_image_installs_the_runtime_lock_and_nothing_else() -> None:
    instructions = dockerfile_instructions(DEPLOY / "Dockerfile")
    copied = [
        i for i in instructions if i.keyword == "COPY" and "requirements.lock" in i.argument.split()[:-1]
    ]
    assert copied, "the Dockerfile does not copy requirements.lock"
    installs = [
        command.strip()
        for i in instructions
        if i.keyword == "RUN"
        for command in i.argument.split("&&")
        if re.search(r"\bpip install\b", command)
    ]
    assert any("--require-hashes" in c and "-r requirements.lock" in c for c in installs), installs
    others = [c for c in installs if "-r requirements.lock" not in c]
    assert others and all("--no-deps" in c for c in others), others
    assert copied[0].line < min(
        i.line for i in instructions if i.keyword == "RUN" and "--no-deps" in i.argument
    )


def test_setup_locked_installs_the_dev_lock() -> None:
    setup = (REPO_ROOT / "scripts" / "setup").read_text()
    assert "LOCK_FILE=requirements-dev.lock" in setup
    assert 'pip install --quiet --require-hashes -r "$LOCK_FILE"' in setup
    assert "pip install --quiet --no-deps -e ." in setup
