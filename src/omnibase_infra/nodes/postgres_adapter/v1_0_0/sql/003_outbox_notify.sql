-- The outbox relay wakes on a notification instead of waiting out its poll interval: every
-- statement that inserts into onex_outbox (an application's INSERT, a COPY, the service's
-- own spill) notifies channel onex_outbox once, with the table's schema as the payload so a
-- relay reacts only to its own schema's. PostgreSQL delivers it at the commit, to the
-- sessions that LISTEN (postgres_adapter's outbox_listener); the relay still polls every
-- workflow_runtime.outbox_idle_interval_ms, so a notification missed (the listening
-- connection lost, a requeue, which inserts nothing) delays a row by one interval at most.
-- A statement-level trigger: a COPY of 20,000 rows sends one notification, not 20,000.
CREATE OR REPLACE FUNCTION onex_outbox_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('onex_outbox', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS onex_outbox_notify ON onex_outbox;
CREATE TRIGGER onex_outbox_notify AFTER INSERT ON onex_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION onex_outbox_notify();
