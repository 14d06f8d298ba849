-- PostgreSQL twin of the SQLite migration of the same version.
-- Connection events and signed webhooks.
-- Same conventions as the initial schema: BIGINT epoch-millisecond times,
-- TEXT uuid v7 ids, JSON as TEXT, nothing SQLite-only beyond what it uses.

-- The event log. connection_id deliberately has no foreign key: the
-- connection.deleted event outlives the connection it names.
CREATE TABLE connection_events (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    kind          TEXT NOT NULL, -- connection.created | connection.refreshed | …
    data          TEXT NOT NULL, -- JSON object, never secrets
    created_at    BIGINT NOT NULL
);
CREATE INDEX connection_events_project_time ON connection_events(project_id, created_at);
CREATE INDEX connection_events_connection ON connection_events(project_id, connection_id, created_at);

-- Where a project wants its events POSTed. The signing secret is sealed like
-- every other secret (AAD webhook:{id}:secret) and shown once, at creation.
CREATE TABLE webhook_endpoints (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    url               TEXT NOT NULL,
    description       TEXT,
    secret_key_id     TEXT NOT NULL,
    secret_ciphertext BYTEA NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_project ON webhook_endpoints(project_id, created_at);

-- The kinds an endpoint subscribes to, one row each ('*': every kind, including
-- kinds added later), so that enqueueing is one indexed join in plain SQL.
CREATE TABLE webhook_endpoint_kinds (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, kind)
);

-- One row per (event, endpoint): the delivery's state and its last attempt.
-- Workers claim due rows by setting a lease; an expired lease (a killed
-- instance) makes the row claimable again.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES connection_events(id) ON DELETE CASCADE,
    status           TEXT NOT NULL, -- pending | delivered | failed
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT, -- NULL once delivered or failed
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);
