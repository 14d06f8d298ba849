//! Wire shapes of provider apps (OAuth clients).

use crate::domain;
use crate::domain::model::{ProviderApp, ProviderAppSummary};
use crate::http::auth::InProject;
use crate::secrets::SecretString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /v1/projects/{projectIdOrName}/provider-apps`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProviderAppRequest {
    pub provider: Option<String>,
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
    pub external_ref: Option<String>,
    /// Whether oauth-connect uses this app when no providerAppId is given.
    /// Defaults to true for a provider's first app.
    pub is_default: Option<bool>,
}

impl From<CreateProviderAppRequest> for domain::ProviderAppInput {
    fn from(body: CreateProviderAppRequest) -> Self {
        domain::ProviderAppInput {
            provider: body.provider,
            client_id: body.client_id,
            client_secret: body.client_secret,
            scopes: body.scopes,
            external_ref: body.external_ref,
            is_default: body.is_default,
        }
    }
}

/// Body of `PATCH /v1/projects/{projectIdOrName}/provider-apps/{id}`; the
/// provider of an app cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProviderAppRequest {
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
    /// `null` clears the reference.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub external_ref: Option<Option<String>>,
    pub is_default: Option<bool>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl From<UpdateProviderAppRequest> for domain::ProviderAppPatch {
    fn from(body: UpdateProviderAppRequest) -> Self {
        domain::ProviderAppPatch {
            client_id: body.client_id,
            client_secret: body.client_secret,
            scopes: body.scopes,
            external_ref: body.external_ref,
            is_default: body.is_default,
        }
    }
}

/// A provider app; the client secret is never returned.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProviderApp)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAppView {
    pub id: String,
    pub project_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub provider: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl From<ProviderApp> for ProviderAppView {
    fn from(app: ProviderApp) -> Self {
        ProviderAppView {
            id: app.id,
            project_id: app.project_id,
            external_ref: app.external_ref,
            provider: app.provider,
            client_id: app.client_id,
            scopes: app.scopes,
            is_default: Some(app.is_default),
            create_time: app.create_time,
            update_time: app.update_time,
        }
    }
}

impl From<ProviderAppSummary> for ProviderAppView {
    fn from(app: ProviderAppSummary) -> Self {
        ProviderAppView {
            id: app.id,
            project_id: app.project_id,
            external_ref: app.external_ref,
            provider: app.provider,
            client_id: app.client_id,
            scopes: app.scopes,
            is_default: None,
            create_time: app.create_time,
            update_time: app.update_time,
        }
    }
}

/// The path of one provider app.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAppPath {
    pub project_id_or_name: String,
    pub provider_app_id: String,
}

impl InProject for ProviderAppPath {
    fn project_id_or_name(&self) -> &str {
        &self.project_id_or_name
    }
}
