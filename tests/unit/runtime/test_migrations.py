"""Migrations shipped with the package: numbered, ordered, starting at 001."""

from __future__ import annotations

from omnibase_infra.runtime.migrations import available_migrations, latest_version


def test_the_initial_migration_comes_first() -> None:
    first = available_migrations()[0]

    assert (first.version, first.name) == (1, "initial")
    assert "CREATE TABLE onex_event_store" in first.sql
    assert "CREATE TABLE onex_outbox" in first.sql


def test_migrations_are_in_strictly_increasing_version_order() -> None:
    versions = [m.version for m in available_migrations()]

    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_latest_version_is_the_last_migration() -> None:
    assert latest_version() >= 1
    assert latest_version() == available_migrations()[-1].version
