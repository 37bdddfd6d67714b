-- Tables of the omnibase_infra service. Applied by `onex-infra db migrate` into the
-- configured schema (POSTGRES_SCHEMA, default public); search_path points at it.

-- Workflow 1: every envelope stored once, keyed by envelope_id, with its Kafka coordinates.
CREATE TABLE onex_event_store (
    envelope_id        uuid        PRIMARY KEY,
    topic              text        NOT NULL,
    "partition"        integer     NOT NULL,
    "offset"           bigint      NOT NULL,
    event_type         text,
    correlation_id     uuid,
    envelope_timestamp timestamptz,
    payload            jsonb       NOT NULL,
    metadata           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    stored_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX onex_event_store_correlation ON onex_event_store (correlation_id);
CREATE INDEX onex_event_store_type ON onex_event_store (event_type, stored_at);
CREATE INDEX onex_event_store_coordinates ON onex_event_store (topic, "partition", "offset");

-- Workflow 2: a command applied at most once; its reply kept to be re-sent on redelivery.
CREATE TABLE onex_inbox (
    envelope_id   uuid        PRIMARY KEY,
    operation     text        NOT NULL,
    reply_topic   text        NOT NULL,
    reply         bytea       NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

-- Workflow 3 and the breaker's spill: records waiting to be published, in id order per key.
CREATE TABLE onex_outbox (
    id            bigserial   PRIMARY KEY,
    topic         text        NOT NULL,
    key           bytea,
    payload       bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '[]'::jsonb,  -- [[name, base64(value)], ...]
    status        text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'published', 'dead_letter')),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX onex_outbox_pending ON onex_outbox (id) WHERE status = 'pending';

-- Workflow 4: the current state of each infrastructure component, and its changes.
CREATE TABLE onex_infrastructure_state (
    component   text        PRIMARY KEY,
    status      text        NOT NULL CHECK (status IN ('healthy', 'degraded', 'unhealthy')),
    reason      text,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE onex_infrastructure_state_history (
    id               bigserial   PRIMARY KEY,
    component        text        NOT NULL,
    previous_status  text,
    status           text        NOT NULL,
    reason           text,
    changed_at       timestamptz NOT NULL DEFAULT now()
);

-- Audit trail: operations run, DLQ records, breaker transitions.
CREATE TABLE onex_audit (
    id              bigserial   PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    event_type      text        NOT NULL,
    severity        text        NOT NULL,
    correlation_id  uuid,
    resource        text        NOT NULL,
    action          text        NOT NULL,
    outcome         text        NOT NULL,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX onex_audit_occurred ON onex_audit (occurred_at);
