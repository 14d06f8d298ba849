//! Projects and the credentials their callers authenticate with: API keys
//! (stored as SHA-256) and public keys that verify bearer JWTs.

use super::error::{check_text, DomainError, DomainResult, FieldIssue, OrNotFound};
use super::model::{from_millis, Project};
use super::Grantd;
use crate::secrets::{ApiKey, ApiKeyHash, SecretString};
use crate::storage::{now_millis, ApiKeyRow, JwtKeyRow, NewApiKey, ProjectRow, StoreError};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// A project created together with its first API key.
#[derive(Debug)]
pub struct NewProject {
    pub project: Project,
    pub api_key: SecretString,
}

/// An API key, shown in clear exactly once.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub id: String,
    pub key: SecretString,
    pub display_prefix: String,
}

/// A registered JWT public key, parsed, with the project it authenticates.
#[derive(Clone)]
pub(super) struct VerifyingKey {
    algorithm: JwtAlgorithm,
    decoding_key: std::sync::Arc<DecodingKey>,
    project: Project,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm)
            .field("project", &self.project.id)
            .finish_non_exhaustive()
    }
}

/// Signature algorithms accepted for bearer JWTs: asymmetric only, so
/// grantd holds no secret that could mint tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwtAlgorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
}

impl JwtAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "RS256" => Some(JwtAlgorithm::Rs256),
            "ES256" => Some(JwtAlgorithm::Es256),
            "EdDSA" => Some(JwtAlgorithm::EdDsa),
            _ => None,
        }
    }

    fn decoding_key(self, pem: &str) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
        match self {
            JwtAlgorithm::Rs256 => DecodingKey::from_rsa_pem(pem.as_bytes()),
            JwtAlgorithm::Es256 => DecodingKey::from_ec_pem(pem.as_bytes()),
            JwtAlgorithm::EdDsa => DecodingKey::from_ed_pem(pem.as_bytes()),
        }
    }

    fn jsonwebtoken(self) -> Algorithm {
        match self {
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        Project {
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
        };
        self.store()
            .insert_project(&row)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    DomainError::Conflict(format!("a project named {name} exists"))
                }
                other => other.into(),
            })?;
        let key = self.create_api_key(&row.id, "default").await?;
        Ok(NewProject {
            project: row.into(),
            api_key: key.key,
        })
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

    pub async fn create_api_key(
        &self,
        project_id: &str,
        label: &str,
    ) -> DomainResult<CreatedApiKey> {
        let mut issues = Vec::new();
        if !check_text("label", label, &mut issues) {
            return Err(DomainError::Validation(issues));
        }
        let key = ApiKey::generate();
        let id = uuid::Uuid::now_v7().to_string();
        self.store()
            .insert_api_key(NewApiKey {
                id: &id,
                project_id,
                label,
                display_prefix: &key.display_prefix,
                key_hash: &key.hash.0,
                create_time: now_millis(),
            })
            .await?;
        Ok(CreatedApiKey {
            id,
            key: key.key,
            display_prefix: key.display_prefix,
        })
    }

    pub async fn list_api_keys(&self, project_id: &str) -> DomainResult<Vec<ApiKeyRow>> {
        Ok(self.store().list_api_keys(project_id).await?)
    }

    pub async fn revoke_api_key(&self, project_id: &str, id: &str) -> DomainResult<()> {
        let revoked = self
            .store()
            .revoke_api_key(project_id, id, now_millis())
            .await
            .or_not_found("api key");
        // The cache is keyed by hash, which the id does not give; revocations
        // are rare enough to forget every key.
        self.caches().api_keys.clear();
        revoked
    }

    /// Registers a public key for bearer JWTs; `kid` defaults to a new UUID.
    pub async fn add_jwt_key(
        &self,
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
        Ok(row)
    }

    pub async fn list_jwt_keys(&self, project_id: &str) -> DomainResult<Vec<JwtKeyRow>> {
        Ok(self.store().list_jwt_keys(project_id).await?)
    }

    pub async fn remove_jwt_key(&self, project_id: &str, kid: &str) -> DomainResult<()> {
        let removed = self
            .store()
            .delete_jwt_key(project_id, kid)
            .await
            .or_not_found("jwt key");
        self.caches().jwt_keys.clear();
        removed
    }

    /// The project an API key belongs to; `None` for unknown or revoked keys.
    pub async fn authenticate_api_key(&self, key: &str) -> DomainResult<Option<Project>> {
        let hash = ApiKeyHash::of(key).0;
        if let Some(project) = self.caches().api_keys.get(&hash) {
            return Ok(Some(project));
        }
        match self.store().project_for_api_key_hash(&hash).await {
            Ok(row) => {
                let project = Project::from(row);
                self.caches().api_keys.insert(hash, project.clone());
                Ok(Some(project))
            }
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// The project whose registered key signed this JWT; `None` when the token
    /// names no known key, is badly signed, or has expired.
    pub async fn authenticate_jwt(&self, token: &str) -> DomainResult<Option<Project>> {
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
        let mut validation = Validation::new(key.algorithm.jsonwebtoken());
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_aud = false;
        validation.leeway = 30;
        #[derive(Deserialize)]
        struct Claims {}
        if jsonwebtoken::decode::<Claims>(token, &key.decoding_key, &validation).is_err() {
            return Ok(None);
        }
        Ok(Some(key.project.clone()))
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
