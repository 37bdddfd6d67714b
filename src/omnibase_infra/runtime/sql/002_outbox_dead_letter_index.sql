-- The relay skips the pending rows of a key behind a dead-lettered row of that key
-- (per-key order); this index keeps that check cheap however long the history grows.
CREATE INDEX onex_outbox_dead_letter ON onex_outbox (key, id) WHERE status = 'dead_letter';
