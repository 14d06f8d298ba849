-- The audit:read scope. Keys that hold every scope (the key `project create`
-- prints, keys made before scopes existed) keep holding every scope.
UPDATE api_keys
    SET scopes = scopes || ' audit:read'
    WHERE scopes = 'connections:read credentials:access-token credentials:read manage api-keys:manage';
