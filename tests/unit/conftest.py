"""Unit-test hygiene shared by every unit test directory.

A test that runs a CLI command in-process (``onex-infra config ...``) calls
``configure_logging``, which adds a handler to the root logger; its ``RedactionFilter``
rewrites every later record (``exc_info`` folded into ``exc_text``). Left in place, it changes
what a later test in the same process sees through ``caplog``, so a result would depend on
which tests ran before it (and on which pytest-xdist worker). Each test leaves the root logger
as it found it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        # pytest's own capture handlers come and go per phase: leave them to pytest.
        if handler not in handlers and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
    root.setLevel(level)
