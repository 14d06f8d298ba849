//! Wire shapes of connections: the generate body with its credential
//! bodies, the connection as Ampersand's Connection object with its
//! credential views, and the list and read queries.

use super::credentials::{
    BasicAuthView, ClientCredentialsView, OAuth2TokensView, PasswordCredentialsView, TokenView,
};
use crate::domain::model::{
    Connection, Credentials, MetadataSource, MetadataValue, ProviderMetadata,
};
use crate::domain::{CredentialAccess, WORKSPACE_METADATA};
use crate::http::auth::InProject;
use crate::http::routes::projects::wire::{ConsumerView, GroupView};
use crate::http::routes::provider_apps::wire::ProviderAppView;
use crate::http::wire::MetadataInputBody;
use crate::secrets::SecretString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthBody {
    #[schema(required = true)]
    pub username: Option<String>,
    #[schema(value_type = Option<String>, required = true)]
    pub password: Option<SecretString>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientCredentialsBody {
    #[schema(required = true)]
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>, required = true)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordCredentialsBody {
    #[schema(required = true)]
    pub username: Option<String>,
    #[schema(value_type = Option<String>, required = true)]
    pub password: Option<SecretString>,
    #[schema(required = true)]
    pub client_id: Option<String>,
    /// Required by Ampersand's schema; grantd also takes public clients without one.
    #[schema(value_type = Option<String>, required = true)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenBody {
    #[schema(value_type = Option<String>, required = true)]
    pub token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    pub issued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationCodeBody {
    pub access_token: Option<TokenBody>,
    pub refresh_token: Option<TokenBody>,
    pub scopes: Option<Vec<String>>,
}

/// Body of `POST /v1/projects/{projectIdOrName}/connections:generate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateConnectionRequest {
    pub provider_workspace_ref: Option<String>,
    pub provider_metadata: Option<BTreeMap<String, MetadataInputBody>>,
    pub group_name: Option<String>,
    #[schema(required = true)]
    pub group_ref: Option<String>,
    pub consumer_name: Option<String>,
    #[schema(required = true)]
    pub consumer_ref: Option<String>,
    #[schema(required = true)]
    pub provider: Option<String>,
    #[schema(value_type = Option<String>)]
    pub api_key: Option<SecretString>,
    pub basic_auth: Option<BasicAuthBody>,
    pub oauth2_client_credentials: Option<ClientCredentialsBody>,
    pub oauth2_password_credentials: Option<PasswordCredentialsBody>,
    pub oauth2_authorization_code: Option<AuthorizationCodeBody>,
    /// Values of the provider's custom-auth inputs (`authType: custom`):
    /// strings, or other JSON values kept as their JSON text.
    #[schema(value_type = Option<Object>)]
    pub custom_auth: Option<BTreeMap<String, serde_json::Value>>,
}

/// Body of `PATCH …/connections/{connectionId}` (Ampersand's
/// UpdateConnectionRequest): the fields to change and their new values;
/// values the mask does not name are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateConnectionRequest {
    /// Fields to update; credential fields must be the connection's own scheme.
    #[schema(value_type = Vec<UpdatableConnectionField>)]
    pub update_mask: Vec<String>,
    /// The new values, in the shape of `connections:generate`'s body.
    pub connection: GenerateConnectionRequest,
}

/// A field updateConnection can change (documentation of `updateMask`).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub enum UpdatableConnectionField {
    ProviderWorkspaceRef,
    ProviderMetadata,
    ApiKey,
    BasicAuth,
    #[schema(rename = "oauth2ClientCredentials")]
    OAuth2ClientCredentials,
    #[schema(rename = "oauth2PasswordCredentials")]
    OAuth2PasswordCredentials,
}

/// Query of `GET …/connections`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListConnectionsQuery {
    pub provider: Option<String>,
    pub group_ref: Option<String>,
    pub consumer_ref: Option<String>,
}

/// Query of `GET …/connections/{connectionId}`, as Ampersand's getConnection.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetConnectionQuery {
    /// Include the credentials a request to the provider carries: the access
    /// token and scopes, the API key or the basic-auth pair (scope
    /// `credentials:access-token`). Refresh tokens, client secrets and grant
    /// passwords only come with `includeRefreshToken`.
    #[serde(default)]
    pub include_creds: bool,
    /// Include every secret, the refresh token too (scope
    /// `credentials:read`); `includeCreds` is then ignored.
    #[serde(default)]
    pub include_refresh_token: bool,
    /// Renew the access token first: `ifExpired` only when it has expired
    /// (or is about to), `force` whatever its expiry (scope
    /// `credentials:access-token`). Concurrent refreshes of one connection
    /// share one provider call.
    pub refresh: Option<RefreshParam>,
    /// grantd's earlier name of `includeCreds`, still accepted.
    #[serde(default)]
    pub include_credentials: bool,
}

/// getConnection's `refresh`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RefreshParam {
    Force,
    IfExpired,
}

/// A provider metadata value with where it came from.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProviderMetadataValue)]
pub struct MetadataView {
    pub value: String,
    #[schema(value_type = MetadataSourceValues)]
    pub source: String,
}

/// Where a metadata value came from: the caller, the provider's token
/// response, or the provider's API after authorization.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(as = MetadataSource, rename_all = "lowercase")]
pub enum MetadataSourceValues {
    Input,
    Token,
    Provider,
}

/// Ampersand's `authScheme` values, and `custom` for custom-auth
/// connections (Ampersand's enum has no value for those). grantd reports
/// PKCE flows as `oauth2/authorizationCode`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum AuthScheme {
    #[schema(rename = "none")]
    None,
    #[schema(rename = "apiKey")]
    ApiKey,
    #[schema(rename = "basic")]
    Basic,
    #[schema(rename = "oauth2/authorizationCode")]
    OAuth2AuthorizationCode,
    #[schema(rename = "oauth2/authorizationCodePKCE")]
    OAuth2AuthorizationCodePkce,
    #[schema(rename = "oauth2/clientCredentials")]
    OAuth2ClientCredentials,
    #[schema(rename = "oauth2/password")]
    OAuth2Password,
    #[schema(rename = "custom")]
    Custom,
}

/// Ampersand's connection `status` values; grantd stores connections
/// `working` and parks them `bad_credentials` (it has no `created` step).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Created,
    Working,
    BadCredentials,
}

/// A connection, as Ampersand's Connection object. Secret fields appear only
/// when credentials were asked for, and only those the caller's scopes allow.
/// No `Debug`: it carries secrets in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = Connection)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub id: String,
    pub project_id: String,
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_app: Option<ProviderAppView>,
    pub group: GroupView,
    pub consumer: ConsumerView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_workspace_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_consumer_ref: Option<String>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    #[schema(value_type = AuthScheme)]
    pub auth_scheme: String,
    #[schema(value_type = ConnectionStatus)]
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_authorization_code: Option<OAuth2TokensView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_client_credentials: Option<ClientCredentialsView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_password_credentials: Option<PasswordCredentialsView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthView>,
    /// grantd: a custom-auth connection's input values, with credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_auth: Option<BTreeMap<String, String>>,
    pub provider_metadata: BTreeMap<String, MetadataView>,
    /// grantd: the last failed token refresh, until one succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_error: Option<RefreshErrorView>,
}

/// Why the last token refresh failed, classified so a revoked grant reads
/// differently from an outage.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshErrorView {
    /// `grant_rejected`, `provider_unavailable`, `network`, `rate_limited` or `misconfigured_app`.
    pub class: String,
    /// The provider's own error code.
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub at: DateTime<Utc>,
    /// When grantd tries again; absent once it has stopped (re-authorize).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
}

impl From<crate::domain::model::RefreshError> for RefreshErrorView {
    fn from(e: crate::domain::model::RefreshError) -> Self {
        let class = serde_json::to_value(e.class)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        RefreshErrorView {
            class,
            error: e.error,
            description: e.description,
            status: e.status,
            at: e.at,
            retry_at: e.retry_at,
        }
    }
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        // What mints new tokens (refresh tokens, client secrets, grant
        // passwords) is for `credentials:read` only; what a request to the
        // provider carries is for `credentials:access-token` as well.
        let renewal_secrets = c.credential_access == CredentialAccess::All;
        let provider_metadata =
            metadata_views(c.provider_metadata, c.provider_workspace_ref.as_deref());
        let mut view = ConnectionView {
            id: c.id,
            project_id: c.project_id,
            provider: c.provider,
            provider_app: c.provider_app.map(ProviderAppView::from),
            group: c.group.into(),
            consumer: c.consumer.into(),
            provider_workspace_ref: c.provider_workspace_ref,
            provider_consumer_ref: c.provider_consumer_ref,
            create_time: c.create_time,
            update_time: c.update_time,
            auth_scheme: c.auth_scheme.as_str().to_owned(),
            status: c.status.as_str().to_owned(),
            oauth2_authorization_code: None,
            oauth2_client_credentials: None,
            oauth2_password_credentials: None,
            api_key: None,
            basic_auth: None,
            custom_auth: None,
            provider_metadata,
            refresh_error: c.refresh_error.map(RefreshErrorView::from),
        };
        if let Some(credentials) = c.credentials {
            view.show_credentials(credentials, renewal_secrets);
        }
        view
    }
}

/// The connection's metadata as the API shows it. Ampersand shows the
/// workspace among the metadata too, and its React client asks for it again
/// when it is missing there.
fn metadata_views(
    metadata: ProviderMetadata,
    workspace: Option<&str>,
) -> BTreeMap<String, MetadataView> {
    let mut views: BTreeMap<String, MetadataView> = metadata
        .into_iter()
        .map(|(k, MetadataValue { value, source })| {
            let source = source.as_str().to_owned();
            (k, MetadataView { value, source })
        })
        .collect();
    if let Some(workspace) = workspace {
        views
            .entry(WORKSPACE_METADATA.to_owned())
            .or_insert_with(|| MetadataView {
                value: workspace.to_owned(),
                source: MetadataSource::Input.as_str().to_owned(),
            });
    }
    views
}

impl ConnectionView {
    /// Fills the one credentials field of the connection's scheme; the
    /// secrets that mint new tokens only with `renewal_secrets`.
    fn show_credentials(&mut self, credentials: Credentials, renewal_secrets: bool) {
        let renewal = |secret: SecretString| renewal_secrets.then(|| secret.expose().to_owned());
        match credentials {
            Credentials::NoAuth {} => {}
            Credentials::CustomAuth { values } => {
                self.custom_auth = Some(
                    values
                        .into_iter()
                        .map(|(name, value)| (name, value.expose().to_owned()))
                        .collect(),
                )
            }
            Credentials::ApiKey { api_key } => self.api_key = Some(api_key.expose().to_owned()),
            Credentials::BasicAuth { username, password } => {
                self.basic_auth = Some(BasicAuthView {
                    username,
                    password: password.expose().to_owned(),
                })
            }
            Credentials::OAuth2AuthorizationCode { tokens } => {
                self.oauth2_authorization_code =
                    Some(OAuth2TokensView::new(&tokens, renewal_secrets))
            }
            Credentials::OAuth2ClientCredentials {
                client_id,
                client_secret,
                tokens,
            } => {
                self.oauth2_client_credentials = Some(ClientCredentialsView {
                    client_id,
                    client_secret: renewal(client_secret),
                    scopes: tokens.scopes.clone(),
                    access_token: (&tokens.access_token).into(),
                })
            }
            Credentials::OAuth2Password {
                username,
                password,
                client_id,
                client_secret,
                tokens,
            } => {
                self.oauth2_password_credentials = Some(PasswordCredentialsView {
                    username,
                    password: renewal(password),
                    client_id,
                    client_secret: client_secret.and_then(renewal),
                    scopes: tokens.scopes.clone(),
                    access_token: (&tokens.access_token).into(),
                    refresh_token: tokens
                        .refresh_token
                        .as_ref()
                        .filter(|_| renewal_secrets)
                        .map(TokenView::from),
                })
            }
        }
    }
}

/// The path of one connection.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPath {
    pub project_id_or_name: String,
    /// For `PATCH`, the id with its action: `{id}:oauth-update`.
    pub connection_id: String,
}

/// The one action a connection's path can carry after its id (`{id}:oauth-update`).
pub const OAUTH_UPDATE_ACTION: &str = "oauth-update";

impl ConnectionPath {
    /// `Some((id, action))` when the id segment names an action
    /// (connection ids never hold a colon).
    pub fn action(&self) -> Option<(&str, &str)> {
        self.connection_id.rsplit_once(':')
    }
}

impl InProject for ConnectionPath {
    fn project_id_or_name(&self) -> &str {
        &self.project_id_or_name
    }
}
