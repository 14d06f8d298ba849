//! Wire shapes of connections: the generate body with its credential
//! bodies, the connection as Ampersand's Connection object with its
//! credential views, and the list and read queries.

use super::credentials::{
    BasicAuthView, ClientCredentialsView, OAuth2TokensView, PasswordCredentialsView, TokenView,
};
use crate::domain::model::{Connection, Credentials, MetadataSource, MetadataValue};
use crate::domain::{self, CredentialAccess, WORKSPACE_METADATA};
use crate::http::auth::InProject;
use crate::http::routes::projects::wire::{ConsumerView, GroupView};
use crate::http::routes::provider_apps::wire::ProviderAppView;
use crate::http::wire::{metadata_input, MetadataInputBody};
use crate::secrets::SecretString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthBody {
    pub username: Option<String>,
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientCredentialsBody {
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordCredentialsBody {
    pub username: Option<String>,
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
    pub client_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenBody {
    #[schema(value_type = Option<String>)]
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
    pub consumer_ref: Option<String>,
    #[schema(required = true)]
    pub provider: Option<String>,
    #[schema(value_type = Option<String>)]
    pub api_key: Option<SecretString>,
    pub basic_auth: Option<BasicAuthBody>,
    pub oauth2_client_credentials: Option<ClientCredentialsBody>,
    pub oauth2_password_credentials: Option<PasswordCredentialsBody>,
    pub oauth2_authorization_code: Option<AuthorizationCodeBody>,
}

impl From<GenerateConnectionRequest> for domain::GenerateInput {
    fn from(body: GenerateConnectionRequest) -> Self {
        use domain::connections::generate::*;
        let token = |t: TokenBody| TokenInput {
            token: t.token,
            issued_at: t.issued_at,
            expires_at: t.expires_at,
        };
        domain::GenerateInput {
            provider: body.provider,
            group_ref: body.group_ref,
            group_name: body.group_name,
            consumer_ref: body.consumer_ref,
            consumer_name: body.consumer_name,
            provider_workspace_ref: body.provider_workspace_ref,
            provider_metadata: metadata_input(body.provider_metadata),
            api_key: body.api_key,
            basic_auth: body.basic_auth.map(|b| BasicAuthInput {
                username: b.username,
                password: b.password,
            }),
            oauth2_client_credentials: body.oauth2_client_credentials.map(|c| {
                ClientCredentialsInput {
                    client_id: c.client_id,
                    client_secret: c.client_secret,
                    scopes: c.scopes.unwrap_or_default(),
                }
            }),
            oauth2_password_credentials: body.oauth2_password_credentials.map(|p| PasswordInput {
                username: p.username,
                password: p.password,
                client_id: p.client_id,
                client_secret: p.client_secret,
                scopes: p.scopes.unwrap_or_default(),
            }),
            oauth2_authorization_code: body.oauth2_authorization_code.map(|a| {
                AuthorizationCodeInput {
                    access_token: a.access_token.map(token),
                    refresh_token: a.refresh_token.map(token),
                    scopes: a.scopes.unwrap_or_default(),
                }
            }),
        }
    }
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

/// Query of `GET …/connections/{connectionId}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetConnectionQuery {
    /// Include the connection's secrets (tokens, API key, password): needs
    /// `credentials:access-token` (without refresh tokens, client secrets and
    /// grant passwords) or `credentials:read` (all of them).
    #[serde(default)]
    pub include_credentials: bool,
}

/// A provider metadata value with where it came from (`input` or `token`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProviderMetadataValue)]
pub struct MetadataView {
    pub value: String,
    pub source: String,
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
    pub auth_scheme: String,
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
            auth_scheme: c.auth_scheme,
            status: c.status.as_str().to_owned(),
            oauth2_authorization_code: None,
            oauth2_client_credentials: None,
            oauth2_password_credentials: None,
            api_key: None,
            basic_auth: None,
            provider_metadata: c
                .provider_metadata
                .into_iter()
                .map(|(k, MetadataValue { value, source })| {
                    let source = source.as_str().to_owned();
                    (k, MetadataView { value, source })
                })
                .collect(),
            refresh_error: c.refresh_error.map(RefreshErrorView::from),
        };
        // Ampersand shows the workspace among the metadata too, and its
        // React client asks for it again when it is missing there.
        if let Some(workspace) = &view.provider_workspace_ref {
            view.provider_metadata
                .entry(WORKSPACE_METADATA.to_owned())
                .or_insert_with(|| MetadataView {
                    value: workspace.clone(),
                    source: MetadataSource::Input.as_str().to_owned(),
                });
        }
        // What mints new tokens (refresh tokens, client secrets, grant
        // passwords) is for `credentials:read` only; what a request to the
        // provider carries is for `credentials:access-token` as well.
        let renewal_secrets = c.credential_access == CredentialAccess::All;
        let renewal = |secret: SecretString| renewal_secrets.then(|| secret.expose().to_owned());
        match c.credentials {
            None => {}
            Some(Credentials::ApiKey { api_key }) => {
                view.api_key = Some(api_key.expose().to_owned())
            }
            Some(Credentials::BasicAuth { username, password }) => {
                view.basic_auth = Some(BasicAuthView {
                    username,
                    password: password.expose().to_owned(),
                })
            }
            Some(Credentials::OAuth2AuthorizationCode { tokens }) => {
                view.oauth2_authorization_code =
                    Some(OAuth2TokensView::new(&tokens, renewal_secrets))
            }
            Some(Credentials::OAuth2ClientCredentials {
                client_id,
                client_secret,
                tokens,
            }) => {
                view.oauth2_client_credentials = Some(ClientCredentialsView {
                    client_id,
                    client_secret: renewal(client_secret),
                    scopes: tokens.scopes.clone(),
                    access_token: (&tokens.access_token).into(),
                })
            }
            Some(Credentials::OAuth2Password {
                username,
                password,
                client_id,
                client_secret,
                tokens,
            }) => {
                view.oauth2_password_credentials = Some(PasswordCredentialsView {
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
        view
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

impl InProject for ConnectionPath {
    fn project_id_or_name(&self) -> &str {
        &self.project_id_or_name
    }
}
