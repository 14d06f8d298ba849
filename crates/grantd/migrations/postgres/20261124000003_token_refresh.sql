-- PostgreSQL twin of the SQLite migration of the same version.
-- Token lifecycle: the refresher picks work by due time and holds a row lease
-- while it talks to the provider, so one connection is never refreshed twice
-- at once, by this instance or another.
ALTER TABLE connections ADD COLUMN refresh_due_at BIGINT;
ALTER TABLE connections ADD COLUMN refresh_lease_owner TEXT;
ALTER TABLE connections ADD COLUMN refresh_lease_until BIGINT;
-- Consecutive transient failures, for backoff; reset by every success.
ALTER TABLE connections ADD COLUMN refresh_failures BIGINT NOT NULL DEFAULT 0;
-- Bumped by every credential write; a refresh stores its result only over the
-- version it read.
ALTER TABLE connections ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN last_refresh_at BIGINT;
-- last_error (from the first migration) holds a JSON object:
-- {"class", "error", "description", "status", "at"}.

CREATE INDEX connections_refresh_due ON connections (refresh_due_at)
    WHERE refresh_due_at IS NOT NULL;
