//! Wire shapes of the project's API keys (a grantd extension).

use crate::domain;
use crate::http::auth::InProject;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /v1/projects/{projectIdOrName}/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A name to tell the key by; `default` when omitted.
    pub label: Option<String>,
    /// The scopes the key holds: `connections:read`, `credentials:access-token`,
    /// `credentials:read`, `manage`, `api-keys:manage`, `audit:read`. None may go beyond
    /// the caller's own.
    #[schema(required = true, value_type = Vec<String>)]
    pub scopes: Option<Vec<domain::Scope>>,
}

/// An API key as listed; the key itself is only in the creation response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub label: String,
    /// The key's first characters, to recognise it by.
    pub display_prefix: String,
    pub scopes: Vec<String>,
    pub create_time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_time: Option<DateTime<Utc>>,
}

impl From<domain::ApiKeyInfo> for ApiKeyView {
    fn from(key: domain::ApiKeyInfo) -> Self {
        ApiKeyView {
            id: key.id,
            label: key.label,
            display_prefix: key.display_prefix,
            scopes: key.scopes.names(),
            create_time: key.create_time,
            revoke_time: key.revoke_time,
        }
    }
}

/// A new API key, shown in clear this once only.
/// No `Debug`: it carries the key in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedApiKey)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKeyView {
    pub id: String,
    pub label: String,
    pub display_prefix: String,
    pub scopes: Vec<String>,
    pub create_time: DateTime<Utc>,
    /// The key, for `X-Api-Key`.
    pub api_key: String,
}

impl From<domain::CreatedApiKey> for CreatedApiKeyView {
    fn from(created: domain::CreatedApiKey) -> Self {
        let info = ApiKeyView::from(created.info);
        CreatedApiKeyView {
            id: info.id,
            label: info.label,
            display_prefix: info.display_prefix,
            scopes: info.scopes,
            create_time: info.create_time,
            api_key: created.key.expose().to_owned(),
        }
    }
}

/// The path of one API key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyPath {
    pub project_id_or_name: String,
    pub api_key_id: String,
}

impl InProject for ApiKeyPath {
    fn project_id_or_name(&self) -> &str {
        &self.project_id_or_name
    }
}
