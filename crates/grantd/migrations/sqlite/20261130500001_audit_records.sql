-- Who read or changed credentials and access, for "who read this token?".
-- Append-only: no row is ever updated (the trigger refuses it). Rows name
-- projects, connections and keys by id without foreign keys, so a record
-- outlives what it is about. Never a secret: ids, classes and names only.
CREATE TABLE audit_records (
    id TEXT PRIMARY KEY,
    -- NULL for instance-wide actions (encryption key rotation).
    project_id TEXT,
    occurred_at INTEGER NOT NULL,
    action TEXT NOT NULL,
    connection_id TEXT,
    -- The provider app, API key or JWT key acted on.
    target_id TEXT,
    -- api_key, jwt, cli or end_user.
    caller_kind TEXT NOT NULL,
    -- The API key id or the JWT kid.
    caller_id TEXT,
    -- The JWT sub.
    caller_subject TEXT,
    client_address TEXT,
    request_id TEXT,
    -- JSON object: what else identifies the action (scopes granted, access level).
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_records_project_time ON audit_records (project_id, occurred_at, id);
CREATE INDEX audit_records_connection ON audit_records (project_id, connection_id, occurred_at)
    WHERE connection_id IS NOT NULL;
CREATE TRIGGER audit_records_append_only BEFORE UPDATE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
