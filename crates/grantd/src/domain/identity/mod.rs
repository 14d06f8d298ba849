//! Projects and the credentials their callers authenticate with: API keys
//! (stored as SHA-256) and public keys that verify bearer JWTs.

pub mod callers;

use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::error::{check_text, DomainError, DomainResult, FieldIssue, OrNotFound};
use crate::domain::handle::Grantd;
use crate::domain::identity::callers::{Authenticated, CallerIdentity, JwtAlgorithm, VerifyingKey};
use crate::domain::model::{from_millis, Project, Timestamp};
use crate::domain::scopes::{Scope, Scopes};
use crate::secrets::{ApiKey, ApiKeyHash, SecretString};
use crate::storage::{now_millis, ApiKeyRow, JwtKeyRow, NewApiKey, ProjectRow, StoreError};
use jsonwebtoken::Validation;
use serde::Deserialize;
use serde_json::json;

/// Seconds of clock skew forgiven on `exp`, `nbf` and `iat`.
const JWT_LEEWAY_SECS: u64 = 30;

/// An API key as listed: never the key itself.
#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub id: String,
    pub label: String,
    pub display_prefix: String,
    pub scopes: Scopes,
    pub create_time: Timestamp,
    pub revoke_time: Option<Timestamp>,
}

impl From<ApiKeyRow> for ApiKeyInfo {
    fn from(row: ApiKeyRow) -> Self {
        ApiKeyInfo {
            id: row.id,
            label: row.label,
            display_prefix: row.display_prefix,
            scopes: Scopes::parse_space_separated_lenient(&row.scopes),
            create_time: from_millis(row.create_time),
            revoke_time: row.revoke_time.map(from_millis),
        }
    }
}

/// Longest API key label accepted.
const MAX_LABEL_LEN: usize = 100;

fn check_api_key_request(label: &str, scopes: Scopes) -> DomainResult<()> {
    let mut issues = Vec::new();
    if label.trim().is_empty() || label.chars().count() > MAX_LABEL_LEN {
        issues.push(FieldIssue::body(
            "label",
            label,
            format!("labels are 1-{MAX_LABEL_LEN} printable characters"),
        ));
    } else {
        check_text("label", label, &mut issues);
    }
    if scopes.is_empty() {
        issues.push(FieldIssue::body(
            "scopes",
            serde_json::Value::Array(Vec::new()),
            "name at least one scope",
        ));
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(issues))
    }
}

/// A project created together with its first API key.
#[derive(Debug)]
pub struct NewProject {
    pub project: Project,
    pub api_key: SecretString,
}

/// An API key, shown in clear exactly once.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub info: ApiKeyInfo,
    pub key: SecretString,
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        Project {
            app_name: row.app_name.unwrap_or_else(|| row.name.clone()),
            id: row.id,
            name: row.name,
            create_time: from_millis(row.create_time),
            update_time: from_millis(row.update_time),
        }
    }
}

/// Project names are URL path segments and must not look like ids.
fn check_project_name(name: &str) -> DomainResult<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && uuid::Uuid::parse_str(name).is_err();
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(FieldIssue::body(
            "name",
            name,
            "project names are 1-64 letters, digits, '-' or '_', and not a UUID",
        )))
    }
}

impl Grantd {
    /// Creates a project and its first API key.
    pub async fn create_project(&self, name: &str) -> DomainResult<NewProject> {
        check_project_name(name)?;
        let now = now_millis();
        let row = ProjectRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_owned(),
            create_time: now,
            update_time: now,
            app_name: None,
        };
        self.store()
            .insert_project(&row)
            .await
            .map_err(|e| match DomainError::from(e) {
                DomainError::Duplicate {
                    field: "name",
                    source,
                    ..
                } => DomainError::Duplicate {
                    field: "name",
                    detail: format!("a project named {name} exists"),
                    source,
                },
                other => other,
            })?;
        let key = self
            .create_api_key(&Actor::cli(), &row.id, "default", Scopes::all())
            .await?;
        Ok(NewProject {
            project: row.into(),
            api_key: key.key,
        })
    }

    /// Renames a project or sets the name its end users see (Ampersand's
    /// updateProject; the CLI's `project update`). Takes effect at once on
    /// this instance (the caches holding projects are cleared), on others
    /// within the cache TTL.
    pub async fn update_project(
        &self,
        project_id: &str,
        name: Option<&str>,
        app_name: Option<&str>,
    ) -> DomainResult<Project> {
        if let Some(name) = name {
            check_project_name(name)?;
        }
        if let Some(app_name) = app_name {
            let mut issues = Vec::new();
            let field = "project.appName";
            if app_name.trim().is_empty() {
                issues.push(FieldIssue::body(
                    field,
                    app_name,
                    "appName must not be empty",
                ));
            } else if app_name.len() > super::error::MAX_REF_LEN {
                issues.push(FieldIssue::body(
                    field,
                    serde_json::Value::Null,
                    format!(
                        "appName is longer than {} characters",
                        super::error::MAX_REF_LEN
                    ),
                ));
            } else {
                super::error::check_text(field, app_name, &mut issues);
            }
            if !issues.is_empty() {
                return Err(DomainError::Validation(issues));
            }
        }
        let row = self
            .store()
            .update_project(project_id, name, app_name, now_millis())
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => DomainError::Conflict(format!(
                    "a project named {} exists",
                    name.unwrap_or_default()
                )),
                StoreError::NotFound => DomainError::not_found("project"),
                other => other.into(),
            })?;
        self.caches().api_keys.clear();
        self.caches().jwt_keys.clear();
        Ok(row.into())
    }

    pub async fn find_project(&self, id_or_name: &str) -> DomainResult<Project> {
        Ok(self
            .store()
            .find_project(id_or_name)
            .await
            .or_not_found("project")?
            .into())
    }

    pub async fn list_projects(&self) -> DomainResult<Vec<Project>> {
        Ok(self
            .store()
            .list_projects()
            .await?
            .into_iter()
            .map(Project::from)
            .collect())
    }

    /// Creates an API key with `scopes` (the admin CLI's path: no caller
    /// to check them against), audited as done by `actor`.
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        project_id: &str,
        label: &str,
        scopes: Scopes,
    ) -> DomainResult<CreatedApiKey> {
        check_api_key_request(label, scopes)?;
        let key = ApiKey::generate();
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_millis();
        self.store()
            .insert_api_key(NewApiKey {
                id: &id,
                project_id,
                label,
                display_prefix: &key.display_prefix,
                key_hash: &key.hash.0,
                scopes: &scopes.to_space_separated(),
                create_time: now,
            })
            .await?;
        self.audit_after_write(
            actor,
            AuditEntry::new(AuditAction::ApiKeyCreate, project_id)
                .target(&id)
                .detail(json!({"label": label, "scopes": scopes.names()})),
        )
        .await;
        Ok(CreatedApiKey {
            info: ApiKeyInfo {
                id,
                label: label.to_owned(),
                display_prefix: key.display_prefix,
                scopes,
                create_time: from_millis(now),
                revoke_time: None,
            },
            key: key.key,
        })
    }

    /// Creates an API key on behalf of a caller holding `caller_scopes`:
    /// never one that could do something the caller cannot.
    pub async fn create_api_key_as(
        &self,
        actor: &Actor,
        caller_scopes: Scopes,
        project_id: &str,
        label: &str,
        scopes: Scopes,
    ) -> DomainResult<CreatedApiKey> {
        caller_scopes.require(Scope::ApiKeysManage)?;
        if let Some(missing) = caller_scopes.first_missing(scopes) {
            return Err(DomainError::MissingScope(missing));
        }
        self.create_api_key(actor, project_id, label, scopes).await
    }

    pub async fn list_api_keys(&self, project_id: &str) -> DomainResult<Vec<ApiKeyInfo>> {
        Ok(self
            .store()
            .list_api_keys(project_id)
            .await?
            .into_iter()
            .map(ApiKeyInfo::from)
            .collect())
    }

    /// Revokes a key (the admin CLI's path), audited as done by `actor`.
    pub async fn revoke_api_key(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
    ) -> DomainResult<()> {
        let revoked = self
            .store()
            .revoke_api_key(project_id, id, now_millis())
            .await
            .or_not_found("api key");
        // The cache is keyed by hash, which the id does not give; revocations
        // are rare enough to forget every key.
        self.caches().api_keys.clear();
        if revoked.is_ok() {
            self.audit_after_write(
                actor,
                AuditEntry::new(AuditAction::ApiKeyRevoke, project_id).target(id),
            )
            .await;
        }
        revoked
    }

    /// Revokes a key on behalf of a caller holding `caller_scopes`: only a
    /// key that can do nothing the caller cannot, so a narrow key cannot
    /// lock out a broader one.
    pub async fn revoke_api_key_as(
        &self,
        actor: &Actor,
        caller_scopes: Scopes,
        project_id: &str,
        id: &str,
    ) -> DomainResult<()> {
        caller_scopes.require(Scope::ApiKeysManage)?;
        let target = self
            .store()
            .find_active_api_key(project_id, id)
            .await
            .or_not_found("api key")?;
        let target_scopes = Scopes::parse_space_separated_lenient(&target.scopes);
        if let Some(missing) = caller_scopes.first_missing(target_scopes) {
            return Err(DomainError::MissingScope(missing));
        }
        self.revoke_api_key(actor, project_id, id).await
    }

    /// Registers a public key for bearer JWTs; `kid` defaults to a new UUID.
    pub async fn add_jwt_key(
        &self,
        actor: &Actor,
        project_id: &str,
        algorithm: JwtAlgorithm,
        public_key_pem: &str,
        kid: Option<String>,
    ) -> DomainResult<JwtKeyRow> {
        algorithm.decoding_key(public_key_pem).map_err(|e| {
            DomainError::invalid(FieldIssue::body(
                "publicKey",
                serde_json::Value::Null,
                format!("not a {} public key in PEM: {e}", algorithm.as_str()),
            ))
        })?;
        let row = JwtKeyRow {
            id: kid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            project_id: project_id.to_owned(),
            algorithm: algorithm.as_str().to_owned(),
            public_key_pem: public_key_pem.to_owned(),
            create_time: now_millis(),
        };
        self.store().insert_jwt_key(&row).await?;
        self.audit_after_write(
            actor,
            AuditEntry::new(AuditAction::JwtKeyCreate, project_id)
                .target(&row.id)
                .detail(json!({"algorithm": row.algorithm})),
        )
        .await;
        Ok(row)
    }

    pub async fn list_jwt_keys(&self, project_id: &str) -> DomainResult<Vec<JwtKeyRow>> {
        Ok(self.store().list_jwt_keys(project_id).await?)
    }

    pub async fn remove_jwt_key(
        &self,
        actor: &Actor,
        project_id: &str,
        kid: &str,
    ) -> DomainResult<()> {
        let removed = self
            .store()
            .delete_jwt_key(project_id, kid)
            .await
            .or_not_found("jwt key");
        self.caches().jwt_keys.clear();
        if removed.is_ok() {
            self.audit_after_write(
                actor,
                AuditEntry::new(AuditAction::JwtKeyRevoke, project_id).target(kid),
            )
            .await;
        }
        removed
    }

    /// The project and scopes of an API key; `None` for unknown or revoked keys.
    pub async fn authenticate_api_key(&self, key: &str) -> DomainResult<Option<Authenticated>> {
        let hash = ApiKeyHash::of(key).0;
        if let Some(found) = self.caches().api_keys.get(&hash) {
            return Ok(Some(found));
        }
        // Boxed: on the hot path the key is remembered, and the database
        // read would otherwise grow every caller's future (moved whole).
        match Box::pin(self.store().grant_for_api_key_hash(&hash)).await {
            Ok(grant) => {
                let found = Authenticated {
                    project: Project::from(grant.project),
                    scopes: Scopes::parse_space_separated_lenient(&grant.scopes),
                    identity: CallerIdentity::ApiKey {
                        id: grant.api_key_id,
                    },
                };
                self.caches().api_keys.insert(hash, found.clone());
                Ok(Some(found))
            }
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// The audiences a JWT may name: the configured one, or grantd's public
    /// URL with and without its trailing slash.
    fn jwt_audiences(&self) -> Vec<String> {
        if let Some(audience) = &self.settings().jwt.audience {
            return vec![audience.clone()];
        }
        let with_slash = self.settings().public_url.as_str().to_owned();
        let without = with_slash.trim_end_matches('/').to_owned();
        vec![with_slash, without]
    }

    /// The project whose registered key signed this JWT, with the scopes of
    /// its `scope` claim; `None` when the token names no known key, is
    /// badly signed, is for another audience or issuer, is not yet or no
    /// longer valid, or lives longer than allowed.
    ///
    /// A token without a `scope` claim may only read without secrets
    /// (`connections:read`): least privilege, see the README.
    pub async fn authenticate_jwt(&self, token: &str) -> DomainResult<Option<Authenticated>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        let Some(kid) = header.kid else {
            return Ok(None);
        };
        let Some(key) = self.verifying_key(&kid).await? else {
            return Ok(None);
        };
        if header.alg != key.algorithm.jsonwebtoken() {
            return Ok(None);
        }
        let settings = &self.settings().jwt;
        let mut validation = Validation::new(key.algorithm.jsonwebtoken());
        let mut required = vec!["exp", "aud"];
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation.set_audience(&self.jwt_audiences());
        validation.validate_nbf = true;
        validation.leeway = JWT_LEEWAY_SECS;
        #[derive(Deserialize)]
        struct Claims {
            exp: u64,
            iat: Option<u64>,
            scope: Option<String>,
            sub: Option<String>,
        }
        let claims = match jsonwebtoken::decode::<Claims>(token, &key.decoding_key, &validation) {
            Ok(data) => data.claims,
            Err(error) => {
                tracing::debug!(kid = %kid, error = %error, "bearer JWT refused");
                return Ok(None);
            }
        };
        // `iat` bounds the lifetime; one in the future would let a token
        // outlive the maximum while `exp - iat` looks short.
        let Some(issued_at) = claims.iat else {
            tracing::debug!(kid = %kid, "bearer JWT refused: no iat");
            return Ok(None);
        };
        let now = jsonwebtoken::get_current_timestamp();
        if issued_at > now + JWT_LEEWAY_SECS
            || claims.exp.saturating_sub(issued_at) > settings.max_lifetime.as_secs()
        {
            tracing::debug!(kid = %kid, "bearer JWT refused: iat in the future or lifetime too long");
            return Ok(None);
        }
        let scopes = match &claims.scope {
            Some(scope) => Scopes::parse_space_separated_lenient(scope),
            None => Scopes::from_iter([Scope::ConnectionsRead]),
        };
        Ok(Some(Authenticated {
            project: key.project.clone(),
            scopes,
            identity: CallerIdentity::Jwt {
                kid,
                subject: claims.sub,
            },
        }))
    }

    /// The registered key `kid` with its project, parsed once per cache
    /// lifetime; `None` when unknown or unusable.
    async fn verifying_key(&self, kid: &str) -> DomainResult<Option<VerifyingKey>> {
        if let Some(key) = self.caches().jwt_keys.get(kid) {
            return Ok(Some(key));
        }
        let row = match self.store().find_jwt_key(kid).await {
            Ok(row) => row,
            Err(StoreError::NotFound) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let Some(algorithm) = JwtAlgorithm::parse(&row.algorithm) else {
            return Ok(None);
        };
        let Ok(decoding_key) = algorithm.decoding_key(&row.public_key_pem) else {
            return Ok(None);
        };
        let project = match self.store().find_project(&row.project_id).await {
            Ok(project) => Project::from(project),
            Err(StoreError::NotFound) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let key = VerifyingKey {
            algorithm,
            decoding_key: std::sync::Arc::new(decoding_key),
            project,
        };
        self.caches().jwt_keys.insert(kid.to_owned(), key.clone());
        Ok(Some(key))
    }
}
