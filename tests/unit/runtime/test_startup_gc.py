"""``startup_gc``: relaxed collector thresholds while starting, restored (start-up frozen) once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from omnibase_infra.runtime import startup_gc


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[None]:
    thresholds = gc.get_threshold()
    startup_gc.restore()  # a start elsewhere in the process may have left it relaxed
    yield
    startup_gc.settle()
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_relax_raises_the_thresholds_until_settle_restores_them() -> None:
    gc.set_threshold(700, 10, 10)
    startup_gc.relax()
    assert gc.get_threshold() == startup_gc.STARTUP_THRESHOLDS
    startup_gc.settle()
    assert gc.get_threshold() == (700, 10, 10)


def test_a_second_relax_keeps_the_thresholds_of_the_first() -> None:
    gc.set_threshold(500, 5, 5)
    startup_gc.relax()
    startup_gc.relax()
    startup_gc.settle()
    assert gc.get_threshold() == (500, 5, 5)


def test_settle_freezes_what_was_built() -> None:
    gc.unfreeze()
    kept = [[] for _ in range(10)]
    startup_gc.settle()
    assert gc.get_freeze_count() >= len(kept)


def test_settle_without_relax_leaves_the_thresholds_alone() -> None:
    gc.set_threshold(900, 9, 9)
    startup_gc.settle()
    assert gc.get_threshold() == (900, 9, 9)


def test_restore_puts_the_thresholds_back_without_freezing() -> None:
    gc.set_threshold(800, 8, 8)
    gc.unfreeze()
    startup_gc.relax()
    startup_gc.restore()
    assert gc.get_threshold() == (800, 8, 8)
    assert gc.get_freeze_count() == 0
