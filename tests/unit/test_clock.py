"""FakeClock moves only when told; SystemClock is real time."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from omnibase_infra.clock import FakeClock, SystemClock


def test_fake_clock_moves_only_by_advance() -> None:
    clock = FakeClock(start=10.0)
    wall = clock.now()

    assert clock.monotonic() == 10.0
    clock.advance(2.5)

    assert clock.monotonic() == 12.5
    assert clock.now() - wall == timedelta(seconds=2.5)
    assert clock.now().tzinfo is UTC


def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock()

    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.monotonic() == 1000.0


def test_system_clock_is_monotonic_and_utc() -> None:
    clock = SystemClock()

    assert clock.monotonic() <= clock.monotonic()
    assert clock.now().tzinfo is UTC
