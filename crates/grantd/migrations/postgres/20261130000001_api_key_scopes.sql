-- API key scopes (space-separated names). Keys made before scopes existed
-- keep the full access they had; new rows must name their scopes.
ALTER TABLE api_keys
    ADD COLUMN scopes TEXT NOT NULL
    DEFAULT 'connections:read credentials:access-token credentials:read manage api-keys:manage';
ALTER TABLE api_keys ALTER COLUMN scopes DROP DEFAULT;
