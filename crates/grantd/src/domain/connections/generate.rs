//! `connections:generate`: a connection from credentials the caller supplies.

use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::catalog::{Provider, ProviderInputs};
use crate::domain::connections::credentials::{ImportedTokens, SuppliedCredentials};
use crate::domain::connections::records::{access_level, ConnectionDraft};
use crate::domain::connections::target::ConnectionTarget;
use crate::domain::error::{DomainError, DomainResult, FieldIssue};
use crate::domain::fields::finish;
use crate::domain::handle::Grantd;
use crate::domain::model::{Connection, Credentials, Project, ProviderMetadata, Token, TokenSet};
use crate::domain::oauth::token::{ClientCredentials, Grant};
use crate::domain::oauth::token_set::{merge_token_metadata, token_set};
use crate::domain::scopes::CredentialAccess;
use crate::secrets::SecretString;
use crate::storage::{ConnectionOwner, ConnectionSource};
use serde_json::json;

/// A connections:generate request, parsed: what the connection is for and
/// the credentials (of a scheme its provider supports) it is made with.
#[derive(Debug)]
pub struct GenerateConnection<'c> {
    target: ConnectionTarget<'c>,
    credentials: SuppliedCredentials,
}

impl<'c> GenerateConnection<'c> {
    /// The command when every part parsed, or every issue found on the way.
    pub fn new(
        target: Option<ConnectionTarget<'c>>,
        credentials: Option<SuppliedCredentials>,
        issues: Vec<FieldIssue>,
    ) -> DomainResult<Self> {
        let command = target.zip(credentials);
        let command = command.map(|(target, credentials)| GenerateConnection {
            target,
            credentials,
        });
        finish(command, issues)
    }
}

/// Where a connection's tokens are fetched: its provider, with the
/// workspace and metadata its URLs are built from.
pub(super) struct TokenSource<'a> {
    pub project_id: &'a str,
    pub provider: &'a Provider,
    pub workspace: Option<&'a str>,
}

impl Grantd {
    /// Obtains tokens where the scheme needs them and stores the
    /// connection. Nothing is stored when the provider refuses. The answer
    /// shows as much of the stored credentials (including tokens grantd
    /// fetched) as `access` allows.
    pub async fn generate_connection(
        &self,
        actor: &Actor,
        project: &Project,
        command: GenerateConnection<'_>,
        access: CredentialAccess,
    ) -> DomainResult<Connection> {
        let target = command.target.into_parts();
        let provider = target.provider;
        let mut metadata = target.metadata;
        let source = TokenSource {
            project_id: &project.id,
            provider,
            workspace: target.workspace.as_deref(),
        };
        let (credentials, provider_app_id) = self
            .obtain_credentials(&source, command.credentials, &mut metadata)
            .await?;
        let owner = ConnectionOwner {
            project_id: project.id.clone(),
            provider: provider.name.clone(),
            provider_app_id,
            group_ref: target.group_ref,
            group_name: target.group_name,
            consumer_ref: target.consumer_ref,
            consumer_name: target.consumer_name,
            provider_workspace_ref: target.workspace,
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

    /// The credentials to store for what the caller supplied, and the
    /// provider app that renews them: the grants fetch their tokens now,
    /// so a secret the provider refuses is a 422 and nothing is stored.
    pub(super) async fn obtain_credentials(
        &self,
        source: &TokenSource<'_>,
        supplied: SuppliedCredentials,
        metadata: &mut ProviderMetadata,
    ) -> DomainResult<(Credentials, Option<String>)> {
        let credentials = match supplied {
            SuppliedCredentials::None => Credentials::NoAuth {},
            SuppliedCredentials::ApiKey(key) => Credentials::ApiKey {
                api_key: key.into_secret(),
            },
            SuppliedCredentials::Basic { username, password } => Credentials::BasicAuth {
                username: username.into_string(),
                password,
            },
            SuppliedCredentials::Custom(values) => Credentials::CustomAuth { values },
            SuppliedCredentials::AuthorizationCode { tokens, scopes } => {
                return self.import_tokens(source, tokens, scopes, metadata).await;
            }
            SuppliedCredentials::ClientCredentials {
                client_id,
                client_secret,
                scopes,
            } => {
                let client = ClientCredentials {
                    client_id: client_id.as_str(),
                    client_secret: Some(client_secret.get()),
                };
                let grant = Grant::ClientCredentials { scopes: &scopes };
                let tokens = self
                    .fetch_tokens(source, &client, &grant, &scopes, metadata)
                    .await?;
                Credentials::OAuth2ClientCredentials {
                    client_id: client_id.into_string(),
                    client_secret: client_secret.into_secret(),
                    tokens,
                }
            }
            SuppliedCredentials::Password {
                username,
                password,
                client_id,
                client_secret,
                scopes,
            } => {
                let client = ClientCredentials {
                    client_id: client_id.as_str(),
                    client_secret: client_secret.as_ref(),
                };
                let grant = Grant::Password {
                    username: username.as_str(),
                    password: password.get(),
                    scopes: &scopes,
                };
                let tokens = self
                    .fetch_tokens(source, &client, &grant, &scopes, metadata)
                    .await?;
                Credentials::OAuth2Password {
                    username: username.into_string(),
                    password: password.into_secret(),
                    client_id: client_id.into_string(),
                    client_secret,
                    tokens,
                }
            }
        };
        Ok((credentials, None))
    }

    /// One grant at the provider's token endpoint, with the metadata its
    /// response (and its post-authorization API) carries merged in.
    async fn fetch_tokens(
        &self,
        source: &TokenSource<'_>,
        client: &ClientCredentials<'_>,
        grant: &Grant<'_>,
        scopes: &[String],
        metadata: &mut ProviderMetadata,
    ) -> DomainResult<TokenSet> {
        let provider = source.provider;
        let spec = provider
            .oauth2
            .as_ref()
            .ok_or_else(|| DomainError::CatalogIncomplete {
                provider: provider.name.clone(),
                missing: "oauth2 section",
            })?;
        let inputs = ProviderInputs::new(source.workspace, metadata);
        let token_url = provider.build_url(&spec.token_url, &inputs)?;
        let post_auth_url = provider.post_auth_url(&inputs)?;
        let now = chrono::Utc::now();
        let response = self
            .tokens()
            .request(spec, &token_url, client, grant, &spec.scope_separator)
            .await?;
        merge_token_metadata(metadata, &response);
        self.add_post_auth_metadata(
            provider,
            post_auth_url.as_ref(),
            &response.access_token,
            metadata,
        )
        .await;
        Ok(token_set(provider, &response, scopes, now))
    }

    /// Imported tokens, refreshed later with the project's default app for
    /// the provider; a refresh token alone is redeemed now.
    async fn import_tokens(
        &self,
        source: &TokenSource<'_>,
        tokens: ImportedTokens,
        scopes: Vec<String>,
        metadata: &mut ProviderMetadata,
    ) -> DomainResult<(Credentials, Option<String>)> {
        let app = self
            .default_provider_app_id(source.project_id, &source.provider.name)
            .await?;
        let tokens = match tokens {
            ImportedTokens::Access { access, refresh } => TokenSet {
                access_token: access,
                refresh_token: refresh,
                scopes,
                token_type: None,
            },
            ImportedTokens::RefreshOnly(refresh_token) => {
                self.redeem_imported_refresh_token(
                    source,
                    app.as_deref(),
                    refresh_token,
                    scopes,
                    metadata,
                )
                .await?
            }
        };
        Ok((Credentials::OAuth2AuthorizationCode { tokens }, app))
    }

    /// An imported refresh token without an access token: redeemed at the
    /// provider right away with the project's default app (the one that
    /// refreshes it later), so the connection is stored with a working
    /// access token. A refresh token the provider refuses stores nothing
    /// (422), and neither does an unreachable provider (502).
    async fn redeem_imported_refresh_token(
        &self,
        source: &TokenSource<'_>,
        app_id: Option<&str>,
        refresh_token: Token,
        scopes: Vec<String>,
        metadata: &mut ProviderMetadata,
    ) -> DomainResult<TokenSet> {
        let provider = source.provider;
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
        let app = self.get_provider_app(source.project_id, app_id).await?;
        let inputs = ProviderInputs::new(source.workspace, metadata);
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
