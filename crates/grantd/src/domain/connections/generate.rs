//! `connections:generate`: a connection from credentials the caller supplies.

use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::catalog::{AuthScheme, Provider, ProviderInputs};
use crate::domain::connections::records::{access_level, ConnectionDraft};
use crate::domain::connections::target::MetadataInput;
use crate::domain::connections::target::{
    check_target, fold_workspace_metadata, input_metadata, supplied_name, TargetInput,
};
use crate::domain::error::{DomainError, DomainResult, FieldIssue};
use crate::domain::handle::Grantd;
use crate::domain::model::{
    Connection, Credentials, Project, ProviderMetadata, Timestamp, Token, TokenSet,
};
use crate::domain::oauth::token::{ClientCredentials, Grant};
use crate::domain::oauth::token_set::{merge_token_metadata, token_set};
use crate::domain::scopes::CredentialAccess;
use crate::secrets::SecretString;
use crate::storage::{ConnectionOwner, ConnectionSource};
use serde_json::json;
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
    /// Values of the provider's custom-auth inputs.
    pub custom_auth: Option<BTreeMap<String, SecretString>>,
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
    fn scheme(&self, no_auth: bool) -> Result<(AuthScheme, &'static str), FieldIssue> {
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
        .chain([(self.custom_auth.is_some(), AuthScheme::Custom, "customAuth")])
        .filter(|(present, ..)| *present)
        .map(|(_, scheme, field)| (scheme, field))
        .collect();
        match present.as_slice() {
            [one] => Ok(*one),
            // No credential: a provider without auth (checked with the provider).
            [] if no_auth => Ok((AuthScheme::None, "provider")),
            [] => Err(FieldIssue::body(
                "apiKey",
                serde_json::Value::Null,
                "exactly one of apiKey, basicAuth, oauth2ClientCredentials, oauth2PasswordCredentials, \
                 oauth2AuthorizationCode, customAuth is required; none was given",
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
        actor: &Actor,
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
        let no_auth = provider.is_some_and(|p| p.supports(AuthScheme::None));
        let scheme = match input.scheme(no_auth) {
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
        if let (Some(provider), Some(values)) = (provider, &input.custom_auth) {
            check_custom_inputs(provider, values, &mut issues);
        }
        let provider = match provider {
            Some(provider) if issues.is_empty() => provider,
            _ => return Err(DomainError::Validation(issues)),
        };
        let mut metadata = input_metadata(&input.provider_metadata);

        let (credentials, provider_app_id) = self
            .obtain_credentials(&project.id, provider, &input, &mut metadata)
            .await?;
        let owner = ConnectionOwner {
            project_id: project.id.clone(),
            provider: provider.name.clone(),
            provider_app_id,
            group_ref: input.group_ref.clone().unwrap_or_default(),
            group_name: supplied_name(input.group_name.as_deref()),
            consumer_ref: input.consumer_ref.clone().unwrap_or_default(),
            consumer_name: supplied_name(input.consumer_name.as_deref()),
            provider_workspace_ref: input.provider_workspace_ref.clone(),
        };
        let draft = ConnectionDraft {
            owner,
            provider_metadata: metadata,
            credentials,
        };
        let (_, record) = self
            .store_new_connection(draft, ConnectionSource::Generated)
            .await?;
        let record = record.ok_or(DomainError::Invariant(
            "the stored connection was not read back",
        ))?;
        let level = access_level(access);
        let entry = AuditEntry::new(AuditAction::ConnectionCreate, &project.id)
            .connection(&record.id)
            .detail(json!({"provider": provider.name, "credentialsReturned": level}));
        if level.is_some() {
            // The answer carries credentials (tokens grantd fetched among
            // them): like any credential read, none leave unrecorded.
            self.audit(actor, entry).await?;
        } else {
            self.audit_after_write(actor, entry).await;
        }
        self.connection_from_record(record, access).await
    }

    pub(super) async fn obtain_credentials(
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
        if let Some(values) = &input.custom_auth {
            return Ok((
                Credentials::CustomAuth {
                    values: values.clone(),
                },
                None,
            ));
        }
        if provider.supports(AuthScheme::None)
            && input.scheme(true).ok().map(|s| s.0) == Some(AuthScheme::None)
        {
            return Ok((Credentials::NoAuth {}, None));
        }
        if let Some(imported) = &input.oauth2_authorization_code {
            let token = |t: &TokenInput| Token {
                token: t.token.clone().unwrap_or_default(),
                issued_at: t.issued_at,
                expires_at: t.expires_at,
            };
            let refresh_token = imported
                .refresh_token
                .as_ref()
                .filter(|t| filled_secret(&t.token))
                .map(token);
            // Imported tokens are refreshed with the project's default app for the provider.
            let app = self
                .default_provider_app_id(project_id, &provider.name)
                .await?;
            let access_token = imported
                .access_token
                .as_ref()
                .filter(|t| filled_secret(&t.token))
                .map(token);
            let tokens = match (access_token, refresh_token) {
                (Some(access_token), refresh_token) => TokenSet {
                    access_token,
                    refresh_token,
                    scopes: imported.scopes.clone(),
                    token_type: None,
                },
                (None, Some(refresh_token)) => {
                    self.redeem_imported_refresh_token(
                        provider,
                        project_id,
                        app.as_deref(),
                        refresh_token,
                        imported.scopes.clone(),
                        input.provider_workspace_ref.as_deref(),
                        metadata,
                    )
                    .await?
                }
                (None, None) => {
                    return Err(DomainError::Invariant(
                        "no token to import after validation",
                    ))
                }
            };
            return Ok((Credentials::OAuth2AuthorizationCode { tokens }, app));
        }
        let spec = provider
            .oauth2
            .as_ref()
            .ok_or_else(|| DomainError::CatalogIncomplete {
                provider: provider.name.clone(),
                missing: "oauth2 section",
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
            .ok_or(DomainError::Invariant(
                "no credential scheme after validation",
            ))?;
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

impl Grantd {
    /// An imported refresh token without an access token: redeemed at the
    /// provider right away with the project's default app (the one that
    /// refreshes it later), so the connection is stored with a working
    /// access token. A refresh token the provider refuses stores nothing
    /// (422), and neither does an unreachable provider (502).
    #[allow(clippy::too_many_arguments)]
    async fn redeem_imported_refresh_token(
        &self,
        provider: &Provider,
        project_id: &str,
        app_id: Option<&str>,
        refresh_token: Token,
        scopes: Vec<String>,
        workspace: Option<&str>,
        metadata: &mut ProviderMetadata,
    ) -> DomainResult<TokenSet> {
        let field = "oauth2AuthorizationCode.refreshToken.token";
        let (Some(spec), Some(app_id)) = (provider.oauth2.as_ref(), app_id) else {
            return Err(DomainError::invalid(FieldIssue::body(
                field,
                serde_json::Value::Null,
                format!(
                    "importing only a refresh token needs a default provider app for {}, \
                     which grantd redeems it with; create one or import an access token too",
                    provider.name
                ),
            )));
        };
        let app = self.get_provider_app(project_id, app_id).await?;
        let inputs = ProviderInputs::new(workspace, metadata);
        let template = spec.refresh_url.as_deref().unwrap_or(&spec.token_url);
        let url = provider.build_url(template, &inputs)?;
        let response = self
            .tokens()
            .request(
                spec,
                &url,
                &ClientCredentials {
                    client_id: &app.client_id,
                    client_secret: Some(&app.client_secret),
                },
                &Grant::RefreshToken {
                    refresh_token: &refresh_token.token,
                },
                &spec.scope_separator,
            )
            .await?;
        merge_token_metadata(metadata, &response);
        let imported = TokenSet {
            access_token: Token {
                token: SecretString::default(),
                issued_at: None,
                expires_at: None,
            },
            refresh_token: Some(refresh_token),
            scopes,
            token_type: None,
        };
        Ok(crate::domain::lifecycle::refresh::renew::renewed_tokens(
            provider, &imported, &response,
        ))
    }
}

/// Custom-auth values: exactly the inputs the catalog declares, none blank.
fn check_custom_inputs(
    provider: &Provider,
    values: &BTreeMap<String, SecretString>,
    issues: &mut Vec<FieldIssue>,
) {
    let Some(spec) = &provider.custom_auth else {
        return; // the scheme check already says the provider has no custom auth
    };
    for input in &spec.inputs {
        if values.get(&input.name).is_none_or(|v| v.is_empty()) {
            issues.push(FieldIssue::body(
                format!("customAuth.{}", input.name),
                serde_json::Value::Null,
                format!("customAuth.{} is required", input.name),
            ));
        }
    }
    for name in values.keys() {
        if !spec.inputs.iter().any(|i| &i.name == name) {
            issues.push(FieldIssue::body(
                format!("customAuth.{name}"),
                serde_json::Value::Null,
                format!(
                    "provider {} has no custom-auth input named {name}",
                    provider.name
                ),
            ));
        }
    }
}

/// Required fields inside whichever scheme was given.
pub(super) fn check_scheme_fields(input: &GenerateInput, issues: &mut Vec<FieldIssue>) {
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
        let has = |t: &Option<TokenInput>| t.as_ref().is_some_and(|t| filled_secret(&t.token));
        // A refresh token alone is enough: grantd redeems it at once.
        if !has(&code.access_token) && !has(&code.refresh_token) {
            issues.push(FieldIssue::body(
                "oauth2AuthorizationCode.accessToken.token",
                serde_json::Value::Null,
                "oauth2AuthorizationCode needs accessToken.token, refreshToken.token or both",
            ));
        }
    }
}
