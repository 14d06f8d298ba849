//! Wire shapes of `oauth-connect`.

use crate::domain;
use crate::http::wire::{metadata_input, MetadataInputBody};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Body of `POST /v1/oauth-connect`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConnectRequest {
    /// The project ID or name. `projectId`, Ampersand's earlier name for
    /// it, is accepted as an alias.
    #[serde(rename = "projectIdOrName", alias = "projectId")]
    #[schema(required = true)]
    pub project_id_or_name: Option<String>,
    #[schema(required = true)]
    pub provider: Option<String>,
    #[schema(required = true)]
    pub group_ref: Option<String>,
    #[schema(required = true)]
    pub consumer_ref: Option<String>,
    pub group_name: Option<String>,
    pub consumer_name: Option<String>,
    pub provider_workspace_ref: Option<String>,
    pub provider_metadata: Option<BTreeMap<String, MetadataInputBody>>,
    pub provider_app_id: Option<String>,
    #[serde(rename = "enableCSRFProtection")]
    pub enable_csrf_protection: Option<bool>,
}

impl OAuthConnectRequest {
    pub fn into_input(self, opener_origin: Option<String>) -> domain::ConnectInput {
        domain::ConnectInput {
            project_id: self.project_id_or_name,
            provider: self.provider,
            group_ref: self.group_ref,
            consumer_ref: self.consumer_ref,
            group_name: self.group_name,
            consumer_name: self.consumer_name,
            provider_workspace_ref: self.provider_workspace_ref,
            provider_metadata: metadata_input(self.provider_metadata),
            provider_app_id: self.provider_app_id,
            enable_csrf_protection: self.enable_csrf_protection.unwrap_or(false),
            opener_origin,
        }
    }
}
