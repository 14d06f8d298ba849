-- Hosted connect page: connect sessions, the origins a project lets embed it,
-- and CSRF binding of authorization flows to the browser that started them.
-- Same conventions as the earlier migrations: INTEGER epoch-millisecond times,
-- TEXT ids, JSON as TEXT.

-- Origins a project allows to embed or open the connect page (postMessage
-- target) and to receive the browser back (return URLs). Exact origins:
-- scheme://host[:port], nothing else.
CREATE TABLE project_allowed_origins (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    origin     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, origin)
);

-- One row per connect session. The token is a bearer secret shown once: only
-- its SHA-256 is kept. consumed_at is set exactly once, atomically, when a
-- flow starts; the result columns are filled in by the callback.
CREATE TABLE connect_sessions (
    id                       TEXT PRIMARY KEY,
    project_id               TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    token_hash               TEXT NOT NULL UNIQUE,
    providers                TEXT NOT NULL, -- JSON array of provider names
    group_ref                TEXT NOT NULL,
    group_name               TEXT,
    consumer_ref             TEXT NOT NULL,
    consumer_name            TEXT,
    connection_id            TEXT, -- set to re-authorize this connection
    return_url               TEXT,
    parent_origin            TEXT,
    created_at               INTEGER NOT NULL,
    expires_at               INTEGER NOT NULL,
    consumed_at              INTEGER,
    provider                 TEXT, -- the provider the flow was started with
    result_status            TEXT, -- success | failure
    result_connection_id     TEXT,
    result_error             TEXT,
    result_error_description TEXT,
    finished_at              INTEGER
);
CREATE INDEX connect_sessions_expiry ON connect_sessions(expires_at);
CREATE INDEX connect_sessions_project ON connect_sessions(project_id, created_at);

-- CSRF protection: a protected flow is bound to a cookie set by the bounce
-- endpoint (/connect/start) on the browser that starts it; only the cookie's
-- SHA-256 is kept. The authorization URL (it carries the state) waits sealed
-- (AAD oauth_flow:{state_hash}:authorize_url) until that browser asks for it.
ALTER TABLE oauth_flows ADD COLUMN csrf_protected INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_flows ADD COLUMN csrf_hash TEXT;
ALTER TABLE oauth_flows ADD COLUMN authorize_url_key_id TEXT;
ALTER TABLE oauth_flows ADD COLUMN authorize_url_ciphertext BLOB;
-- The connect session that started the flow, if any.
ALTER TABLE oauth_flows ADD COLUMN connect_session_id TEXT;
