-- API key scopes (space-separated names). Keys made before scopes existed
-- keep the full access they had. The default stays on the column because
-- SQLite cannot drop it; grantd always writes the column explicitly.
ALTER TABLE api_keys
    ADD COLUMN scopes TEXT NOT NULL
    DEFAULT 'connections:read credentials:access-token credentials:read manage api-keys:manage';
