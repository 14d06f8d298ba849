//! Wire shapes: the JSON bodies of the /v1 API, field for field as
//! Ampersand's reference names them, and their conversions to and from the
//! domain. Request fields are all optional here so that a missing field is
//! reported by the domain as a named issue rather than a parse error.

use crate::domain::model::{
    Connection, Consumer, Credentials, Group, MetadataValue, Project, ProviderApp,
    ProviderAppSummary, Token, TokenSet,
};
use crate::domain::{self, CredentialAccess, MetadataInput};
use crate::secrets::SecretString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

// ---------- requests ----------

/// `providerMetadata` entry: `{"value": "...", "source": "input"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetadataInputBody {
    pub value: String,
    #[serde(default)]
    pub source: Option<String>,
}

fn metadata_input(
    map: Option<BTreeMap<String, MetadataInputBody>>,
) -> BTreeMap<String, MetadataInput> {
    map.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, MetadataInput { value: v.value }))
        .collect()
}

/// Body of `POST /v1/oauth-connect`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConnectRequest {
    /// The project ID or name.
    #[schema(required = true)]
    pub project_id: Option<String>,
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
            project_id: self.project_id,
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
        use domain::generate::*;
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

// ---------- responses ----------

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Project)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        ProjectView {
            id: p.id.clone(),
            name: p.name.clone(),
            create_time: p.create_time,
            update_time: p.update_time,
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

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Group)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub group_ref: String,
    pub group_name: String,
    pub project_id: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl From<Group> for GroupView {
    fn from(g: Group) -> Self {
        GroupView {
            group_ref: g.group_ref,
            group_name: g.group_name,
            project_id: g.project_id,
            create_time: g.create_time,
            update_time: g.update_time,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Consumer)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerView {
    pub consumer_ref: String,
    pub consumer_name: String,
    pub project_id: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl From<Consumer> for ConsumerView {
    fn from(c: Consumer) -> Self {
        ConsumerView {
            consumer_ref: c.consumer_ref,
            consumer_name: c.consumer_name,
            project_id: c.project_id,
            create_time: c.create_time,
            update_time: c.update_time,
        }
    }
}

/// No `Debug`: it carries secrets in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = Token)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&Token> for TokenView {
    fn from(t: &Token) -> Self {
        TokenView {
            token: t.token.expose().to_owned(),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
        }
    }
}

/// No `Debug`: it carries secrets in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2AuthorizationCodeTokens)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2TokensView {
    pub access_token: TokenView,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<TokenView>,
    pub scopes: Vec<String>,
}

impl OAuth2TokensView {
    fn new(t: &TokenSet, renewal_secrets: bool) -> Self {
        OAuth2TokensView {
            access_token: (&t.access_token).into(),
            refresh_token: t
                .refresh_token
                .as_ref()
                .filter(|_| renewal_secrets)
                .map(TokenView::from),
            scopes: t.scopes.clone(),
        }
    }
}

/// No `Debug`: it carries secrets in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = BasicAuth)]
pub struct BasicAuthView {
    pub username: String,
    pub password: String,
}

/// No `Debug`: it carries secrets in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2ClientCredentials)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredentialsView {
    pub client_id: String,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub access_token: TokenView,
}

/// No `Debug`: it carries secrets in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2PasswordCredentials)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredentialsView {
    pub username: String,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub client_id: String,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub access_token: TokenView,
    /// Withheld from callers without `credentials:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<TokenView>,
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

impl From<crate::domain::refresh::RefreshError> for RefreshErrorView {
    fn from(e: crate::domain::refresh::RefreshError) -> Self {
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

// ---------- webhooks and events ----------

/// Body of `POST /v1/projects/{projectIdOrName}/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed: an https URL whose host is a public address or a
    /// name (judged by the address it resolves to at each delivery). Private and
    /// loopback addresses, and plain http to 127.0.0.1, ::1 or localhost, only
    /// when the server runs with `--webhook-allow-private`.
    #[schema(required = true)]
    pub url: Option<String>,
    /// Event kinds to receive; every kind (including future ones) when omitted.
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
}

impl From<CreateWebhookRequest> for domain::WebhookInput {
    fn from(body: CreateWebhookRequest) -> Self {
        domain::WebhookInput {
            url: body.url,
            events: body.events,
            description: body.description,
        }
    }
}

/// Query of `GET …/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Only the events of this connection.
    pub connection_id: Option<String>,
    /// Most events returned, newest first: 1–500, default 100.
    pub limit: Option<i64>,
}

/// Query of `GET …/webhooks/{webhookId}/deliveries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    /// Most deliveries returned, newest first: 1–500, default 100.
    pub limit: Option<i64>,
}

/// A webhook endpoint. Its signing secret is only ever in the creation response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Webhook)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub project_id: String,
    pub url: String,
    /// The event kinds this endpoint receives.
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<domain::WebhookEndpoint> for WebhookView {
    fn from(w: domain::WebhookEndpoint) -> Self {
        WebhookView {
            id: w.id,
            project_id: w.project_id,
            url: w.url,
            events: w.events,
            description: w.description,
            created_at: w.created_at,
        }
    }
}

/// A new webhook endpoint with its signing secret, shown this once only.
/// No `Debug`: it carries the secret in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedWebhook)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhookView {
    pub id: String,
    pub project_id: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `whsec_…`: the HMAC-SHA256 key of `Grantd-Webhook-Signature`. Store it now;
    /// it is not shown again.
    pub secret: String,
}

impl From<domain::CreatedWebhook> for CreatedWebhookView {
    fn from(created: domain::CreatedWebhook) -> Self {
        let w = created.endpoint;
        CreatedWebhookView {
            id: w.id,
            project_id: w.project_id,
            url: w.url,
            events: w.events,
            description: w.description,
            created_at: w.created_at,
            secret: created.secret.expose().to_owned(),
        }
    }
}

/// One attempt record of the delivery of an event to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryView {
    pub id: String,
    pub event_id: String,
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts started so far.
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed, as a class only: `refused_address` (the
    /// destination is not a permitted address; nothing was sent), `dns`,
    /// `connect`, `tls`, `timeout`, `protocol`, `http_<status>`,
    /// `signing_secret` or `abandoned`.
    pub last_error: Option<String>,
    /// When the next attempt is due; null once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<domain::WebhookDelivery> for WebhookDeliveryView {
    fn from(d: domain::WebhookDelivery) -> Self {
        WebhookDeliveryView {
            id: d.id,
            event_id: d.event_id,
            kind: d.kind,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// An entry of the event log: the webhook body plus the connection's id.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConnectionEvent)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: String,
    /// The event kind, e.g. `connection.created`.
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: String,
    pub connection_id: String,
    /// `connectionId`, `provider`, `groupRef`, `consumerRef`; `oldStatus` and
    /// `newStatus` for status changes. Never credentials.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<domain::ConnectionEvent> for EventView {
    fn from(e: domain::ConnectionEvent) -> Self {
        EventView {
            id: e.id,
            kind: e.kind,
            project_id: e.project_id,
            connection_id: e.connection_id,
            data: e.data,
            created_at: e.created_at,
        }
    }
}

// ---------- connect sessions and the hosted connect page ----------

/// Body of `PUT /v1/projects/{projectIdOrName}/allowed-origins`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowedOriginsRequest {
    /// Exact origins (`https://app.example.com`, `http://localhost:3000`);
    /// replaces the whole list, `[]` clears it.
    #[schema(required = true)]
    pub origins: Option<Vec<String>>,
}

/// The origins allowed to embed the connect page and receive browsers back.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AllowedOrigins)]
#[serde(rename_all = "camelCase")]
pub struct AllowedOriginsView {
    pub origins: Vec<String>,
}

/// Body of `POST /v1/projects/{projectIdOrName}/connect-sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConnectSessionRequest {
    /// Providers the person may choose from (each needs a default provider
    /// app). For a re-authorization, omit it or name the connection's provider.
    pub providers: Option<Vec<String>>,
    /// Required unless `connectionId` is given.
    pub group_ref: Option<String>,
    pub group_name: Option<String>,
    /// Required unless `connectionId` is given.
    pub consumer_ref: Option<String>,
    pub consumer_name: Option<String>,
    /// Re-authorize this connection in place instead of creating one.
    pub connection_id: Option<String>,
    /// Where the browser goes back after a flow that ran without a popup,
    /// with `connectionId`, `status` and `provider` (and `error`) added to its
    /// query. Its origin must be allowed.
    pub return_url: Option<String>,
    /// Origin of the page that embeds or opens the connect page; results are
    /// `postMessage`d to it. Must be allowed. Defaults to `returnUrl`'s origin.
    pub parent_origin: Option<String>,
    /// 60–3600; default 600.
    pub expires_in_seconds: Option<i64>,
}

impl From<CreateConnectSessionRequest> for domain::ConnectSessionInput {
    fn from(body: CreateConnectSessionRequest) -> Self {
        domain::ConnectSessionInput {
            providers: body.providers,
            group_ref: body.group_ref,
            group_name: body.group_name,
            consumer_ref: body.consumer_ref,
            consumer_name: body.consumer_name,
            connection_id: body.connection_id,
            return_url: body.return_url,
            parent_origin: body.parent_origin,
            expires_in_seconds: body.expires_in_seconds,
        }
    }
}

/// How a session's flow ended.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConnectSessionResult)]
#[serde(rename_all = "camelCase")]
pub struct SessionOutcomeView {
    /// `success` or `failure`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    pub finished_at: DateTime<Utc>,
}

impl From<domain::SessionOutcome> for SessionOutcomeView {
    fn from(o: domain::SessionOutcome) -> Self {
        SessionOutcomeView {
            status: o.status,
            connection_id: o.connection_id,
            error: o.error,
            error_description: o.error_description,
            finished_at: o.finished_at,
        }
    }
}

/// A connect session as its backend sees it; never its token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConnectSession)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSessionView {
    pub id: String,
    pub project_id: String,
    /// `pending`, `started`, `succeeded`, `failed` or `expired`.
    pub status: String,
    pub providers: Vec<String>,
    pub group_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    pub consumer_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_origin: Option<String>,
    /// The provider the person chose, once a flow started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<SessionOutcomeView>,
}

impl From<domain::ConnectSession> for ConnectSessionView {
    fn from(s: domain::ConnectSession) -> Self {
        ConnectSessionView {
            status: s.status(Utc::now()).to_owned(),
            id: s.id,
            project_id: s.project_id,
            providers: s.providers,
            group_ref: s.group_ref,
            group_name: s.group_name,
            consumer_ref: s.consumer_ref,
            consumer_name: s.consumer_name,
            connection_id: s.connection_id,
            return_url: s.return_url,
            parent_origin: s.parent_origin,
            provider: s.provider,
            created_at: s.created_at,
            expires_at: s.expires_at,
            consumed_at: s.consumed_at,
            result: s.outcome.map(SessionOutcomeView::from),
        }
    }
}

/// A new connect session with its token and page URL, shown this once only.
/// No `Debug`: it carries the token in clear.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedConnectSession)]
#[serde(rename_all = "camelCase")]
pub struct CreatedConnectSessionView {
    #[serde(flatten)]
    pub session: ConnectSessionView,
    /// `gcs_…`: single use, valid until `expiresAt`. Not shown again.
    pub token: String,
    /// The hosted connect page for this session: open it in a popup, an
    /// iframe or the whole window. The token is in its fragment (after
    /// `#`), which browsers never send: pass the URL on whole.
    pub url: String,
}

impl From<domain::CreatedConnectSession> for CreatedConnectSessionView {
    fn from(created: domain::CreatedConnectSession) -> Self {
        CreatedConnectSessionView {
            session: created.session.into(),
            token: created.token.expose().to_owned(),
            url: created.url,
        }
    }
}

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

impl From<ConnectStartRequest> for domain::ConnectStartInput {
    fn from(body: ConnectStartRequest) -> Self {
        domain::ConnectStartInput {
            provider: body.provider,
            provider_workspace_ref: body.provider_workspace_ref,
            provider_metadata: metadata_input(body.provider_metadata),
        }
    }
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

// ---------- API keys (grantd extension) ----------

/// Body of `POST /v1/projects/{projectIdOrName}/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A name to tell the key by; `default` when omitted.
    pub label: Option<String>,
    /// The scopes the key holds: `connections:read`, `credentials:access-token`,
    /// `credentials:read`, `manage`, `api-keys:manage`. None may go beyond
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
