-- PostgreSQL twin of the SQLite migration of the same version: same tables,
-- BIGINT for integers, BYTEA for blobs.
-- Times are milliseconds since the Unix epoch (BIGINT); ids are UUID text.
-- Secret columns come in pairs: *_key_id names the keyring key, *_ciphertext
-- holds nonce || AEAD ciphertext bound to the row's identity.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    label          TEXT NOT NULL,
    display_prefix TEXT NOT NULL,
    key_hash       TEXT NOT NULL UNIQUE,
    create_time    BIGINT NOT NULL,
    revoke_time    BIGINT
);
CREATE INDEX api_keys_project ON api_keys(project_id);

CREATE TABLE jwt_keys (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    algorithm      TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    create_time    BIGINT NOT NULL
);
CREATE INDEX jwt_keys_project ON jwt_keys(project_id);

CREATE TABLE provider_apps (
    id                       TEXT PRIMARY KEY,
    project_id               TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    provider                 TEXT NOT NULL,
    external_ref             TEXT,
    client_id                TEXT NOT NULL,
    client_secret_key_id     TEXT NOT NULL,
    client_secret_ciphertext BYTEA NOT NULL,
    scopes                   TEXT NOT NULL, -- JSON array
    is_default               BIGINT NOT NULL DEFAULT 0,
    create_time              BIGINT NOT NULL,
    update_time              BIGINT NOT NULL
);
CREATE INDEX provider_apps_project ON provider_apps(project_id, provider);
-- At most one default app per provider in a project.
CREATE UNIQUE INDEX provider_apps_one_default ON provider_apps(project_id, provider) WHERE is_default = 1;

CREATE TABLE groups (
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    group_ref   TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    PRIMARY KEY (project_id, group_ref)
);

CREATE TABLE consumers (
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    consumer_ref  TEXT NOT NULL,
    consumer_name TEXT NOT NULL,
    create_time   BIGINT NOT NULL,
    update_time   BIGINT NOT NULL,
    PRIMARY KEY (project_id, consumer_ref)
);

CREATE TABLE connections (
    id                      TEXT PRIMARY KEY,
    project_id              TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    provider                TEXT NOT NULL,
    provider_app_id         TEXT REFERENCES provider_apps(id) ON DELETE SET NULL,
    group_ref               TEXT NOT NULL,
    consumer_ref            TEXT NOT NULL,
    provider_workspace_ref  TEXT,
    provider_consumer_ref   TEXT,
    auth_scheme             TEXT NOT NULL,
    status                  TEXT NOT NULL,
    provider_metadata       TEXT NOT NULL, -- JSON object
    scopes                  TEXT NOT NULL, -- JSON array
    credentials_key_id      TEXT NOT NULL,
    credentials_ciphertext  BYTEA NOT NULL,
    access_token_expires_at BIGINT,
    last_error              TEXT,
    create_time             BIGINT NOT NULL,
    update_time             BIGINT NOT NULL,
    FOREIGN KEY (project_id, group_ref) REFERENCES groups(project_id, group_ref),
    FOREIGN KEY (project_id, consumer_ref) REFERENCES consumers(project_id, consumer_ref)
);
CREATE INDEX connections_project_provider ON connections(project_id, provider, create_time);
CREATE INDEX connections_project_group ON connections(project_id, group_ref);
CREATE INDEX connections_project_consumer ON connections(project_id, consumer_ref);

-- One row per authorization flow. The state itself is a bearer secret, so
-- only its SHA-256 is kept. consumed_time is set exactly once, atomically.
CREATE TABLE oauth_flows (
    state_hash                TEXT PRIMARY KEY,
    project_id                TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    provider                  TEXT NOT NULL,
    provider_app_id           TEXT NOT NULL,
    connection_id             TEXT, -- set for :oauth-update flows
    group_ref                 TEXT NOT NULL,
    group_name                TEXT, -- NULL: keep the group's current name
    consumer_ref              TEXT NOT NULL,
    consumer_name             TEXT, -- NULL: keep the consumer's current name
    provider_workspace_ref    TEXT,
    provider_metadata         TEXT NOT NULL, -- JSON object
    scopes                    TEXT NOT NULL, -- JSON array
    redirect_uri              TEXT NOT NULL,
    opener_origin             TEXT NOT NULL,
    code_verifier_key_id      TEXT,
    code_verifier_ciphertext  BYTEA,
    create_time               BIGINT NOT NULL,
    expire_time               BIGINT NOT NULL,
    consumed_time             BIGINT,
    outcome                   TEXT, -- success | provider_error | exchange_failed
    outcome_detail            TEXT,
    result_connection_id      TEXT
);
CREATE INDEX oauth_flows_expiry ON oauth_flows(expire_time);
