"""The outbox claim's plan against the real server: it walks the pending index and stops at the batch."""

from __future__ import annotations

import asyncpg

from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.outbox_operations import CLAIM_SQL, CUSTOM_PLAN_SQL


async def test_a_claim_on_rows_not_yet_analysed_walks_the_pending_index_in_id_order(
    db: asyncpg.Connection, pg_schema: str
) -> None:
    """20,000 rows copied in at once are not in the table's statistics (autovacuum has not run):
    the claim must still read the pending rows through the index in id order and stop at its
    batch, not read and sort every pending row (a cost that grows with the whole backlog)."""
    await migrations.migrate(db, pg_schema)
    records = [("onex.evt.test.plan.v1", f"k{i % 100}".encode(), b"{}", "[]") for i in range(20_000)]
    await db.copy_records_to_table(
        "onex_outbox", records=records, columns=("topic", "key", "payload", "headers"), schema_name=pg_schema
    )
    async with db.transaction():
        await db.execute(CUSTOM_PLAN_SQL)
        plan = "\n".join(
            row[0] for row in await db.fetch(f"EXPLAIN ANALYZE {CLAIM_SQL.replace('$1', '2000')}")
        )
    assert "Index Scan using onex_outbox_pending on onex_outbox o" in plan, plan
    assert "Bitmap Heap Scan on onex_outbox o" not in plan, plan
    scanned = next(line for line in plan.splitlines() if "onex_outbox_pending on onex_outbox o" in line)
    assert "rows=2000 " in scanned, "the scan stops once the batch is claimed"
