-- The relay keeps order per (topic, key), as Kafka orders per partition of a topic: it never
-- claims a row behind a dead-lettered row of its topic and key, nor one whose topic and key
-- have an earlier unpublished row outside its claim. These indexes keep both checks cheap
-- however long the published history grows. IF NOT EXISTS: a rerun (or an index a DBA built
-- ahead with CREATE INDEX CONCURRENTLY, docs/operations.md) is harmless. Built inside the
-- migration's transaction, so inserts into onex_outbox wait until the migration commits.
CREATE INDEX IF NOT EXISTS onex_outbox_dead_letter_key ON onex_outbox (topic, key, id)
    WHERE status = 'dead_letter';
CREATE INDEX IF NOT EXISTS onex_outbox_unpublished_key ON onex_outbox (topic, key, id)
    WHERE status <> 'published';

-- Who wrote a row: 'service' for the state events the service spills or parks itself,
-- 'application' for every other INSERT. Only a service row may be relayed to the
-- state-changed topic; an application row naming it is dead-lettered by the topic ACL.
ALTER TABLE onex_outbox ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'application'
    CHECK (origin IN ('application', 'service'));
