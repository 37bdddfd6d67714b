"""Migrations shipped with the package: numbered, ordered, starting at 001."""

from __future__ import annotations

from omnibase_infra.nodes.postgres_adapter.v1_0_0.migrations import available_migrations, latest_version


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


def test_the_outbox_key_migration_is_idempotent_and_indexes_topic_and_key() -> None:
    [migration] = [m for m in available_migrations() if m.version == 2]
    code = "\n".join(line.split("--")[0] for line in migration.sql.splitlines())
    statements = [" ".join(s.split()) for s in code.split(";") if s.strip()]
    creates = [s for s in statements if s.startswith("CREATE INDEX")]
    assert len(creates) == 2
    assert all(s.startswith("CREATE INDEX IF NOT EXISTS") for s in creates), creates
    assert all("ON onex_outbox (topic, key, id)" in s for s in creates), creates
    assert any("ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'application'" in s for s in statements)
