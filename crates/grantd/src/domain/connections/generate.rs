//! `connections:generate`: a connection from credentials the caller supplies.

use crate::domain::catalog::{AuthScheme, Provider, ProviderInputs};
use crate::domain::connections::target::MetadataInput;
use crate::domain::connections::target::{
    check_target, fold_workspace_metadata, input_metadata, supplied_name, TargetInput,
};
use crate::domain::error::{DomainError, DomainResult, FieldIssue};
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{connection_event_data, new_event, EventKind};
use crate::domain::model::scopes_json;
use crate::domain::model::{
    Connection, ConnectionStatus, Credentials, Project, ProviderMetadata, Timestamp, Token,
    TokenSet,
};
use crate::domain::oauth::callback::{merge_token_metadata, token_set};
use crate::domain::oauth::token::{ClientCredentials, Grant};
use crate::domain::scopes::CredentialAccess;
use crate::secrets::SecretString;
use crate::storage::{now_millis, ConnectionSource, NewConnection};
use std::collections::BTreeMap;

/// A token as callers import it.
#[derive(Debug, Default)]
pub struct TokenInput {
    pub token: Option<SecretString>,
    pub issued_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// The body of `connections:generate`, before validation.
#[derive(Debug, Default)]
pub struct GenerateInput {
    pub provider: Option<String>,
    pub group_ref: Option<String>,
    pub group_name: Option<String>,
    pub consumer_ref: Option<String>,
    pub consumer_name: Option<String>,
    pub provider_workspace_ref: Option<String>,
    pub provider_metadata: BTreeMap<String, MetadataInput>,
    pub api_key: Option<SecretString>,
    pub basic_auth: Option<BasicAuthInput>,
    pub oauth2_client_credentials: Option<ClientCredentialsInput>,
    pub oauth2_password_credentials: Option<PasswordInput>,
    pub oauth2_authorization_code: Option<AuthorizationCodeInput>,
}

#[derive(Debug, Default)]
pub struct BasicAuthInput {
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

#[derive(Debug, Default)]
pub struct ClientCredentialsInput {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Default)]
pub struct PasswordInput {
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Default)]
pub struct AuthorizationCodeInput {
    pub access_token: Option<TokenInput>,
    pub refresh_token: Option<TokenInput>,
    pub scopes: Vec<String>,
}

fn require(field: &str, present: bool, issues: &mut Vec<FieldIssue>) {
    if !present {
        issues.push(FieldIssue::body(
            field,
            serde_json::Value::Null,
            format!("{field} is required"),
        ));
    }
}

fn filled(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

fn filled_secret(value: &Option<SecretString>) -> bool {
    value.as_ref().is_some_and(|v| !v.is_empty())
}

impl GenerateInput {
    /// The one scheme present, or the issues that say why there is not one.
    fn scheme(&self) -> Result<(AuthScheme, &'static str), FieldIssue> {
        let present: Vec<(AuthScheme, &'static str)> = [
            (self.api_key.is_some(), AuthScheme::ApiKey, "apiKey"),
            (self.basic_auth.is_some(), AuthScheme::Basic, "basicAuth"),
            (
                self.oauth2_client_credentials.is_some(),
                AuthScheme::OAuth2ClientCredentials,
                "oauth2ClientCredentials",
            ),
            (
                self.oauth2_password_credentials.is_some(),
                AuthScheme::OAuth2Password,
                "oauth2PasswordCredentials",
            ),
            (
                self.oauth2_authorization_code.is_some(),
                AuthScheme::OAuth2AuthorizationCode,
                "oauth2AuthorizationCode",
            ),
        ]
        .into_iter()
        .filter(|(present, ..)| *present)
        .map(|(_, scheme, field)| (scheme, field))
        .collect();
        match present.as_slice() {
            [one] => Ok(*one),
            [] => Err(FieldIssue::body(
                "apiKey",
                serde_json::Value::Null,
                "exactly one of apiKey, basicAuth, oauth2ClientCredentials, oauth2PasswordCredentials, \
                 oauth2AuthorizationCode is required; none was given",
            )),
            many => Err(FieldIssue::body(
                many[1].1,
                serde_json::Value::Null,
                format!(
                    "exactly one credential scheme may be given; got {}",
                    many.iter().map(|(_, f)| *f).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}

impl Grantd {
    /// Validates the input, obtains tokens where the scheme needs them, and
    /// stores the connection. Nothing is stored when the provider refuses.
    /// Stores a connection from supplied credentials. The answer shows as
    /// much of the stored credentials (including tokens grantd fetched) as
    /// `access` allows.
    pub async fn generate_connection(
        &self,
        project: &Project,
        mut input: GenerateInput,
        access: CredentialAccess,
    ) -> DomainResult<Connection> {
        input.provider = input.provider.map(|name| self.catalog().canonical(name));
        let mut issues = Vec::new();
        fold_workspace_metadata(
            &mut input.provider_workspace_ref,
            &mut input.provider_metadata,
            &mut issues,
        );
        let provider = check_target(
            self.catalog(),
            &TargetInput {
                provider: input.provider.as_deref(),
                group_ref: input.group_ref.as_deref(),
                consumer_ref: input.consumer_ref.as_deref(),
                group_name: input.group_name.as_deref(),
                consumer_name: input.consumer_name.as_deref(),
                workspace: input.provider_workspace_ref.as_deref(),
                metadata: &input.provider_metadata,
            },
            None,
            &mut issues,
        );
        let scheme = match input.scheme() {
            Ok(scheme) => Some(scheme),
            Err(issue) => {
                issues.push(issue);
                None
            }
        };
        if let (Some(provider), Some((scheme, field))) = (provider, scheme) {
            if !provider.supports(scheme) {
                issues.push(FieldIssue::body(
                    field,
                    serde_json::Value::Null,
                    format!(
                        "provider {} does not support {}",
                        provider.name,
                        scheme.as_str()
                    ),
                ));
            }
        }
        check_scheme_fields(&input, &mut issues);
        let provider = match provider {
            Some(provider) if issues.is_empty() => provider,
            _ => return Err(DomainError::Validation(issues)),
        };
        let mut metadata = input_metadata(&input.provider_metadata);

        let (credentials, provider_app_id) = self
            .obtain_credentials(&project.id, provider, &input, &mut metadata)
            .await?;
        let connection_id = uuid::Uuid::now_v7().to_string();
        let sealed = self.seal_credentials(&connection_id, &credentials)?;
        let scopes = credentials
            .tokens()
            .map(|t| t.scopes.clone())
            .unwrap_or_default();
        let group_ref = input.group_ref.clone().unwrap_or_default();
        let consumer_ref = input.consumer_ref.clone().unwrap_or_default();
        let event = new_event(
            &project.id,
            &connection_id,
            EventKind::Created,
            connection_event_data(&connection_id, &provider.name, &group_ref, &consumer_ref),
        );
        let (enqueued, record) = self
            .store()
            .insert_connection(
                NewConnection {
                    id: connection_id.clone(),
                    project_id: project.id.clone(),
                    provider: provider.name.clone(),
                    provider_app_id,
                    group_name: supplied_name(input.group_name.as_deref()),
                    group_ref,
                    consumer_name: supplied_name(input.consumer_name.as_deref()),
                    consumer_ref,
                    provider_workspace_ref: input.provider_workspace_ref.clone(),
                    provider_consumer_ref: None,
                    auth_scheme: credentials.auth_scheme().as_str().to_owned(),
                    status: ConnectionStatus::Working.as_str().to_owned(),
                    provider_metadata: serde_json::to_string(&metadata)
                        .unwrap_or_else(|_| "{}".into()),
                    scopes: scopes_json(&scopes),
                    credentials_key_id: sealed.key_id,
                    credentials_ciphertext: sealed.bytes,
                    access_token_expires_at: credentials
                        .access_token_expires_at()
                        .map(|t| t.timestamp_millis()),
                    refresh_due_at: self.refresh_due_at(&credentials),
                    now: now_millis(),
                },
                event.clone(),
                ConnectionSource::Generated,
            )
            .await?;
        self.event_recorded(&event, enqueued);
        let record = record.ok_or_else(|| {
            DomainError::Internal("the stored connection was not read back".into())
        })?;
        self.connection_from_record(record, access).await
    }

    async fn obtain_credentials(
        &self,
        project_id: &str,
        provider: &Provider,
        input: &GenerateInput,
        metadata: &mut ProviderMetadata,
    ) -> DomainResult<(Credentials, Option<String>)> {
        if let Some(key) = &input.api_key {
            return Ok((
                Credentials::ApiKey {
                    api_key: key.clone(),
                },
                None,
            ));
        }
        if let Some(basic) = &input.basic_auth {
            return Ok((
                Credentials::BasicAuth {
                    username: basic.username.clone().unwrap_or_default(),
                    password: basic.password.clone().unwrap_or_default(),
                },
                None,
            ));
        }
        if let Some(imported) = &input.oauth2_authorization_code {
            let token = |t: &TokenInput| Token {
                token: t.token.clone().unwrap_or_default(),
                issued_at: t.issued_at,
                expires_at: t.expires_at,
            };
            let access_token = imported.access_token.as_ref().map(token).ok_or_else(|| {
                DomainError::invalid(FieldIssue::body(
                    "oauth2AuthorizationCode.accessToken",
                    serde_json::Value::Null,
                    "oauth2AuthorizationCode.accessToken is required",
                ))
            })?;
            let tokens = TokenSet {
                access_token,
                refresh_token: imported
                    .refresh_token
                    .as_ref()
                    .filter(|t| filled_secret(&t.token))
                    .map(token),
                scopes: imported.scopes.clone(),
                token_type: None,
            };
            // Imported tokens are refreshed with the project's default app for the provider.
            let app = self
                .default_provider_app_id(project_id, &provider.name)
                .await?;
            return Ok((Credentials::OAuth2AuthorizationCode { tokens }, app));
        }
        let spec = provider.oauth2.as_ref().ok_or_else(|| {
            DomainError::Internal(format!("{} has no oauth2 section", provider.name))
        })?;
        let inputs = ProviderInputs::new(input.provider_workspace_ref.as_deref(), metadata);
        let token_url = provider.build_url(&spec.token_url, &inputs)?;
        let post_auth_url = provider.post_auth_url(&inputs)?;
        let now = chrono::Utc::now();
        if let Some(cc) = &input.oauth2_client_credentials {
            let client_id = cc.client_id.clone().unwrap_or_default();
            let response = self
                .tokens()
                .request(
                    spec,
                    &token_url,
                    &ClientCredentials {
                        client_id: &client_id,
                        client_secret: cc.client_secret.as_ref(),
                    },
                    &Grant::ClientCredentials { scopes: &cc.scopes },
                    &spec.scope_separator,
                )
                .await?;
            merge_token_metadata(metadata, &response);
            self.add_post_auth_metadata(
                provider,
                post_auth_url.as_ref(),
                &response.access_token,
                metadata,
            )
            .await;
            let tokens = token_set(provider, &response, &cc.scopes, now);
            return Ok((
                Credentials::OAuth2ClientCredentials {
                    client_id,
                    client_secret: cc.client_secret.clone().unwrap_or_default(),
                    tokens,
                },
                None,
            ));
        }
        let pw = input
            .oauth2_password_credentials
            .as_ref()
            .ok_or_else(|| DomainError::Internal("no credential scheme after validation".into()))?;
        let client_id = pw.client_id.clone().unwrap_or_default();
        let username = pw.username.clone().unwrap_or_default();
        let password = pw.password.clone().unwrap_or_default();
        let response = self
            .tokens()
            .request(
                spec,
                &token_url,
                &ClientCredentials {
                    client_id: &client_id,
                    client_secret: pw.client_secret.as_ref(),
                },
                &Grant::Password {
                    username: &username,
                    password: &password,
                    scopes: &pw.scopes,
                },
                &spec.scope_separator,
            )
            .await?;
        merge_token_metadata(metadata, &response);
        self.add_post_auth_metadata(
            provider,
            post_auth_url.as_ref(),
            &response.access_token,
            metadata,
        )
        .await;
        let tokens = token_set(provider, &response, &pw.scopes, now);
        Ok((
            Credentials::OAuth2Password {
                username,
                password,
                client_id,
                client_secret: pw.client_secret.clone(),
                tokens,
            },
            None,
        ))
    }
}

/// Required fields inside whichever scheme was given.
fn check_scheme_fields(input: &GenerateInput, issues: &mut Vec<FieldIssue>) {
    if let Some(key) = &input.api_key {
        require("apiKey", !key.is_empty(), issues);
    }
    if let Some(basic) = &input.basic_auth {
        require("basicAuth.username", filled(&basic.username), issues);
        require("basicAuth.password", basic.password.is_some(), issues);
    }
    if let Some(cc) = &input.oauth2_client_credentials {
        require(
            "oauth2ClientCredentials.clientId",
            filled(&cc.client_id),
            issues,
        );
        require(
            "oauth2ClientCredentials.clientSecret",
            filled_secret(&cc.client_secret),
            issues,
        );
    }
    if let Some(pw) = &input.oauth2_password_credentials {
        require(
            "oauth2PasswordCredentials.username",
            filled(&pw.username),
            issues,
        );
        require(
            "oauth2PasswordCredentials.password",
            filled_secret(&pw.password),
            issues,
        );
        require(
            "oauth2PasswordCredentials.clientId",
            filled(&pw.client_id),
            issues,
        );
    }
    if let Some(code) = &input.oauth2_authorization_code {
        let has_access = code
            .access_token
            .as_ref()
            .is_some_and(|t| filled_secret(&t.token));
        require(
            "oauth2AuthorizationCode.accessToken.token",
            has_access,
            issues,
        );
    }
}
