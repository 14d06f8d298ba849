//! Wire shapes of provider apps (OAuth clients).

use crate::domain;
use crate::domain::catalog::Catalog;
use crate::domain::fields::{finish, optional, Secret};
use crate::domain::model::{ProviderApp, ProviderAppMetadata, ProviderAppSummary};
use crate::domain::provider_apps::{
    make_default, same_provider, AppMetadata, AppProvider, AppScopes, AppText, ClientId,
    CreateProviderApp, NewClientSecret, UpdateProviderApp,
};
use crate::domain::DomainResult;
use crate::http::auth::InProject;
use crate::secrets::SecretString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Ampersand's `ProviderAppMetadata`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[schema(as = ProviderAppMetadata)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAppMetadataBody {
    /// Added to the authorization URL; a name's values are joined with
    /// spaces (HubSpot's `optional_scope`). Names grantd sets itself
    /// (`client_id`, `redirect_uri`, `scope`, `state`, …) are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auth_query_params: BTreeMap<String, Vec<String>>,
    /// Provider-specific values, stored and returned.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provider_params: BTreeMap<String, String>,
}

impl From<ProviderAppMetadataBody> for ProviderAppMetadata {
    fn from(body: ProviderAppMetadataBody) -> Self {
        ProviderAppMetadata {
            auth_query_params: body.auth_query_params,
            provider_params: body.provider_params,
        }
    }
}

impl From<ProviderAppMetadata> for ProviderAppMetadataBody {
    fn from(metadata: ProviderAppMetadata) -> Self {
        ProviderAppMetadataBody {
            auth_query_params: metadata.auth_query_params,
            provider_params: metadata.provider_params,
        }
    }
}

/// Body of `POST /v1/projects/{projectIdOrName}/provider-apps`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProviderAppRequest {
    #[schema(required = true)]
    pub provider: Option<String>,
    #[schema(required = true)]
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>, required = true)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
    pub external_ref: Option<String>,
    pub metadata: Option<ProviderAppMetadataBody>,
    /// grantd: whether oauth-connect uses this app when no providerAppId is
    /// given. Defaults to true for a provider's first app.
    pub is_default: Option<bool>,
}

impl CreateProviderAppRequest {
    /// The body as a `CreateProviderApp`, every bad field named together.
    pub fn parse(self, catalog: &Catalog) -> DomainResult<CreateProviderApp> {
        let mut issues = Vec::new();
        let provider = AppProvider::parse(catalog, self.provider, &mut issues);
        let client_id = ClientId::parse(self.client_id, &mut issues);
        let external_ref = self
            .external_ref
            .map(|r| AppText::parse("externalRef", r, &mut issues));
        let scopes = AppScopes::parse(self.scopes.unwrap_or_default(), &mut issues);
        let metadata = self.metadata.map(Into::into).unwrap_or_default();
        let metadata = AppMetadata::parse(metadata, &mut issues);
        let client_secret = Secret::parse("clientSecret", self.client_secret, &mut issues);
        let app = (|| {
            Some(CreateProviderApp {
                provider: provider?,
                client_id: client_id?,
                client_secret: client_secret?,
                scopes: scopes?,
                external_ref: optional(external_ref)?,
                is_default: self.is_default,
                metadata: metadata?,
            })
        })();
        finish(app, issues)
    }
}

/// Body of `PATCH /v1/projects/{projectIdOrName}/provider-apps/{id}`, as
/// Ampersand defines it: the fields named in `updateMask` take their values
/// from `providerApp`; a named field left out of `providerApp` is cleared
/// (`externalRef`, `scopes`, `metadata`) or refused (`clientId`,
/// `clientSecret`). The provider of an app cannot change. (grantd also takes
/// the flat form of `FlatProviderAppUpdate`, a body without `updateMask`.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProviderAppRequest {
    /// `externalRef`, `clientId`, `clientSecret`, `provider`, `scopes`, `metadata`.
    pub update_mask: Vec<String>,
    pub provider_app: ProviderAppFields,
}

/// The values of an Ampersand-shaped provider app update.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAppFields {
    pub external_ref: Option<String>,
    pub provider: Option<String>,
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
    pub metadata: Option<ProviderAppMetadataBody>,
}

/// The fields `updateMask` may name.
const APP_MASK_FIELDS: [&str; 6] = [
    "externalRef",
    "clientId",
    "clientSecret",
    "provider",
    "scopes",
    "metadata",
];

impl UpdateProviderAppRequest {
    /// The mask applied to the values: the changes in the flat form, and
    /// the provider the body names; or the issues naming what is wrong.
    pub fn into_changes(
        self,
    ) -> Result<(FlatProviderAppUpdate, Option<String>), Vec<domain::FieldIssue>> {
        let mut issues = Vec::new();
        let mut patch = FlatProviderAppUpdate::default();
        let mut provider = None;
        let mut app = self.provider_app;
        if self.update_mask.is_empty() {
            issues.push(domain::FieldIssue::body(
                "updateMask",
                serde_json::json!([]),
                format!(
                    "updateMask must name at least one of {}",
                    APP_MASK_FIELDS.join(", ")
                ),
            ));
        }
        let required = |field: &str, issues: &mut Vec<domain::FieldIssue>| {
            issues.push(domain::FieldIssue::body(
                format!("providerApp.{field}"),
                serde_json::Value::Null,
                format!("updateMask names {field}, so providerApp.{field} is required"),
            ));
        };
        for (i, field) in self.update_mask.iter().enumerate() {
            match field.as_str() {
                "externalRef" => patch.external_ref = Some(app.external_ref.take()),
                "scopes" => patch.scopes = Some(app.scopes.take().unwrap_or_default()),
                "metadata" => patch.metadata = Some(app.metadata.take().unwrap_or_default()),
                "clientId" => match app.client_id.take() {
                    Some(value) => patch.client_id = Some(value),
                    None => required(field, &mut issues),
                },
                "clientSecret" => match app.client_secret.take() {
                    Some(value) => patch.client_secret = Some(value),
                    None => required(field, &mut issues),
                },
                "provider" => match app.provider.take() {
                    Some(value) => provider = Some(value),
                    None => required(field, &mut issues),
                },
                other => issues.push(domain::FieldIssue::body(
                    format!("updateMask[{i}]"),
                    other,
                    format!(
                        "{other} cannot be updated; the allowed values are {}",
                        APP_MASK_FIELDS.join(", ")
                    ),
                )),
            }
        }
        if issues.is_empty() {
            Ok((patch, provider))
        } else {
            Err(issues)
        }
    }
}

/// grantd's flat update body (an extension): the fields given change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlatProviderAppUpdate {
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
    /// `null` clears the reference.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub external_ref: Option<Option<String>>,
    pub is_default: Option<bool>,
    pub metadata: Option<ProviderAppMetadataBody>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl FlatProviderAppUpdate {
    /// The changes as an `UpdateProviderApp`. `provider` is the provider
    /// the body names with the app's own, which it must equal.
    pub fn parse(self, provider: Option<(&str, &str)>) -> DomainResult<UpdateProviderApp> {
        let mut issues = Vec::new();
        let client_id = self
            .client_id
            .map(|c| ClientId::parse(Some(c), &mut issues));
        let external_ref = self
            .external_ref
            .map(|r| r.map(|r| AppText::parse("externalRef", r, &mut issues)));
        let scopes = self.scopes.map(|s| AppScopes::parse(s, &mut issues));
        let metadata = self
            .metadata
            .map(|m| AppMetadata::parse(m.into(), &mut issues));
        let client_secret = self
            .client_secret
            .map(|s| NewClientSecret::parse(s, &mut issues));
        if let Some((named, current)) = provider {
            same_provider(named, current, &mut issues);
        }
        let make_default = make_default(self.is_default, &mut issues);
        let update = (|| {
            Some(UpdateProviderApp {
                client_id: optional(client_id)?,
                client_secret: optional(client_secret)?,
                scopes: optional(scopes)?,
                // `null` (clear the reference) is sent and parsed.
                external_ref: optional(external_ref.map(|r| match r {
                    None => Some(None),
                    Some(parsed) => parsed.map(Some),
                }))?,
                make_default: make_default?,
                metadata: optional(metadata)?,
            })
        })();
        finish(update, issues)
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
    pub metadata: Option<ProviderAppMetadataBody>,
    /// grantd: whether flows use this app when none is named.
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
            metadata: Some(app.metadata)
                .filter(|m| *m != ProviderAppMetadata::default())
                .map(Into::into),
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
            metadata: None,
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
