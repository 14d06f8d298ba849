-- Ampersand's ProviderApp.metadata (JSON: authQueryParams, providerParams)
-- and Project.appName (the name end users see; NULL reads as the project's
-- name).
ALTER TABLE provider_apps ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE projects ADD COLUMN app_name TEXT;
