-- The relay keeps per-key order: it never claims a row behind a dead-lettered row of its
-- key, nor one whose key has an earlier unpublished row outside its claim. These indexes
-- keep both checks cheap however long the published history grows.
CREATE INDEX onex_outbox_dead_letter_key ON onex_outbox (key, id) WHERE status = 'dead_letter';
CREATE INDEX onex_outbox_unpublished_key ON onex_outbox (key, id) WHERE status <> 'published';

-- Who wrote a row: 'service' for the state events the service spills or parks itself,
-- 'application' for every other INSERT. Only a service row may be relayed to the
-- state-changed topic; an application row naming it is dead-lettered by the topic ACL.
ALTER TABLE onex_outbox ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'application'
    CHECK (origin IN ('application', 'service'));
