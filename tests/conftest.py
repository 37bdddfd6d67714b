"""Shared by every test directory: this folder is on ``sys.path``, so ``import doc_blocks`` works.

It also declares ``--exclusive``, the option ``scripts/test`` uses to run the integration
suite in two phases: the tests that share the servers with others run in parallel (pytest-xdist),
then the tests that stop, pause or kill a shared server run alone (see
``tests/integration/conftest.py``, which decides which tests those are).
"""

from __future__ import annotations

import pytest

EXCLUSIVE_CHOICES = ("include", "skip", "only")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--exclusive",
        choices=EXCLUSIVE_CHOICES,
        default="include",
        help=(
            "tests marked `exclusive` (they take a shared server down): include them (default), "
            "skip them (a phase that runs in parallel), or run only them (a phase that runs alone)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exclusive: stops, pauses or kills a server other tests share; runs while no other test runs",
    )
