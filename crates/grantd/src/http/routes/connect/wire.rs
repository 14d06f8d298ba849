//! Wire shapes of the connect page's JSON endpoints, its query, and the
//! bounce form.

use crate::http::routes::connect_sessions::wire::SessionOutcomeView;
use crate::http::wire::MetadataInputBody;
use crate::secrets::SecretString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// An input the page asks for, with the catalog's pattern.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectInputView {
    /// `providerWorkspaceRef`, or `providerMetadata.<name>`.
    pub field: String,
    pub label: String,
    pub required: bool,
    /// Anchored regular expression the value must match.
    pub pattern: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
}

/// A provider the page offers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectProviderView {
    pub name: String,
    pub display_name: String,
    /// Two letters for the badge (no third-party logos are loaded).
    pub initials: String,
    /// 0–11: the badge's colour, derived from the name.
    pub hue: u8,
    /// Inputs to ask for; empty for a re-authorization (the connection's own are used).
    pub inputs: Vec<ConnectInputView>,
}

/// What the connect page reads with the session token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectPageSessionView {
    pub id: String,
    /// `pending`, `started`, `succeeded` or `failed`.
    pub status: String,
    pub providers: Vec<ConnectProviderView>,
    pub reauthorize: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<SessionOutcomeView>,
}

/// Body of `POST /connect/api/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectStartRequest {
    pub provider: Option<String>,
    pub provider_workspace_ref: Option<String>,
    pub provider_metadata: Option<BTreeMap<String, MetadataInputBody>>,
}

/// Where the page sends the browser next.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectStartView {
    /// grantd's bounce URL (the flow in its fragment): it binds the flow to
    /// this browser and redirects to the provider. No `Debug`: it carries
    /// the flow's state.
    pub authorization_url: String,
}

/// Query of `GET /connect`. The session's token is not here: it is in the
/// URL's fragment (`#token=gcs_…`), which the browser keeps to itself.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ConnectPageQuery {
    /// The session's id (not a secret): names the origin that may frame
    /// the page.
    pub session_id: Option<String>,
}

/// Form of `POST {redirect URI}/start`, as the bounce page posts it.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct BounceForm {
    /// The flow, from the bounce URL's fragment.
    #[schema(value_type = Option<String>)]
    pub flow: Option<SecretString>,
}
