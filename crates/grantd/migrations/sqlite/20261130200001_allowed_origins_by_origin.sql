-- CORS preflights carry no credential: grantd answers one for an origin that
-- any project allows, which looks the origin up across projects.
CREATE INDEX project_allowed_origins_by_origin ON project_allowed_origins (origin);
