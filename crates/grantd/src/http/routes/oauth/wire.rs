//! Wire shapes of `oauth-connect`.

use crate::domain::catalog::Catalog;
use crate::domain::model::Project;
use crate::domain::oauth::connect::StartOAuthConnect;
use crate::domain::{DomainResult, TargetFields};
use crate::http::wire::{metadata_values, MetadataInputBody};
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
    /// The body as the domain's command, for the calling project.
    pub fn parse<'c>(
        self,
        catalog: &'c Catalog,
        caller: &Project,
    ) -> DomainResult<StartOAuthConnect<'c>> {
        let target = TargetFields {
            provider: self.provider,
            group_ref: self.group_ref,
            group_name: self.group_name,
            consumer_ref: self.consumer_ref,
            consumer_name: self.consumer_name,
            workspace: self.provider_workspace_ref,
            metadata: metadata_values(self.provider_metadata),
        };
        StartOAuthConnect::parse(
            catalog,
            caller,
            self.project_id_or_name.as_deref(),
            target,
            self.provider_app_id,
            self.enable_csrf_protection.unwrap_or(false),
        )
    }
}
