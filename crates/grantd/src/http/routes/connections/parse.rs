//! The connection request bodies parsed into the domain's commands, once,
//! with every bad field named together: the wire keeps every field
//! optional so that a missing one is a named issue rather than a
//! deserialization error, and the domain's constructors decide what is
//! acceptable.

use super::wire::{
    AuthorizationCodeBody, BasicAuthBody, ClientCredentialsBody, GenerateConnectionRequest,
    PasswordCredentialsBody, TokenBody, UpdateConnectionRequest,
};
use crate::domain::catalog::{AuthScheme, Catalog, Provider};
use crate::domain::connections::credentials::{choose_scheme, imported_token};
use crate::domain::{
    ConnectionTarget, DomainResult, FieldIssue, GenerateConnection, SuppliedCredentials,
    TargetFields, UpdatableField, UpdateConnection, UpdateMask,
};
use crate::http::wire::metadata_values;
use crate::secrets::SecretString;
use std::collections::BTreeMap;

/// The credential blocks of a generate body; at most one may be sent.
#[derive(Default)]
struct CredentialBodies {
    api_key: Option<SecretString>,
    basic_auth: Option<BasicAuthBody>,
    oauth2_client_credentials: Option<ClientCredentialsBody>,
    oauth2_password_credentials: Option<PasswordCredentialsBody>,
    oauth2_authorization_code: Option<AuthorizationCodeBody>,
    custom_auth: Option<BTreeMap<String, serde_json::Value>>,
}

impl CredentialBodies {
    /// The schemes of the blocks sent, in the body's order.
    fn given(&self) -> Vec<AuthScheme> {
        [
            (self.api_key.is_some(), AuthScheme::ApiKey),
            (self.basic_auth.is_some(), AuthScheme::Basic),
            (
                self.oauth2_client_credentials.is_some(),
                AuthScheme::OAuth2ClientCredentials,
            ),
            (
                self.oauth2_password_credentials.is_some(),
                AuthScheme::OAuth2Password,
            ),
            (
                self.oauth2_authorization_code.is_some(),
                AuthScheme::OAuth2AuthorizationCode,
            ),
            (self.custom_auth.is_some(), AuthScheme::Custom),
        ]
        .into_iter()
        .filter_map(|(sent, scheme)| sent.then_some(scheme))
        .collect()
    }

    /// Every block sent, parsed (each one's issues recorded): the valid ones.
    fn parse(
        self,
        provider: Option<&Provider>,
        issues: &mut Vec<FieldIssue>,
    ) -> Vec<SuppliedCredentials> {
        let mut parsed = Vec::new();
        if let Some(key) = self.api_key {
            parsed.push(SuppliedCredentials::api_key(key, issues));
        }
        if let Some(b) = self.basic_auth {
            parsed.push(SuppliedCredentials::basic(b.username, b.password, issues));
        }
        if let Some(c) = self.oauth2_client_credentials {
            parsed.push(SuppliedCredentials::client_credentials(
                c.client_id,
                c.client_secret,
                c.scopes,
                issues,
            ));
        }
        if let Some(p) = self.oauth2_password_credentials {
            parsed.push(SuppliedCredentials::password(
                p.username,
                p.password,
                p.client_id,
                p.client_secret,
                p.scopes,
                issues,
            ));
        }
        if let Some(a) = self.oauth2_authorization_code {
            let token = |t: TokenBody| imported_token(t.token, t.issued_at, t.expires_at);
            parsed.push(SuppliedCredentials::authorization_code(
                a.access_token.and_then(token),
                a.refresh_token.and_then(token),
                a.scopes,
                issues,
            ));
        }
        if let Some(values) = self.custom_auth {
            parsed.push(SuppliedCredentials::custom(
                provider,
                custom_values(values),
                issues,
            ));
        }
        parsed.into_iter().flatten().collect()
    }
}

/// Custom-auth values: strings, or other JSON values kept as their JSON text.
fn custom_values(values: BTreeMap<String, serde_json::Value>) -> BTreeMap<String, SecretString> {
    values
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            (name, SecretString::new(text))
        })
        .collect()
}

impl GenerateConnectionRequest {
    fn split(self) -> (TargetFields, CredentialBodies) {
        let target = TargetFields {
            provider: self.provider,
            group_ref: self.group_ref,
            group_name: self.group_name,
            consumer_ref: self.consumer_ref,
            consumer_name: self.consumer_name,
            workspace: self.provider_workspace_ref,
            metadata: metadata_values(self.provider_metadata),
        };
        let credentials = CredentialBodies {
            api_key: self.api_key,
            basic_auth: self.basic_auth,
            oauth2_client_credentials: self.oauth2_client_credentials,
            oauth2_password_credentials: self.oauth2_password_credentials,
            oauth2_authorization_code: self.oauth2_authorization_code,
            custom_auth: self.custom_auth,
        };
        (target, credentials)
    }

    /// The body as a `GenerateConnection`: its target, and the one
    /// credential block it may carry, of a scheme its provider supports.
    pub fn parse(self, catalog: &Catalog) -> DomainResult<GenerateConnection<'_>> {
        let mut issues = Vec::new();
        let provider = self.provider.as_deref().and_then(|name| catalog.get(name));
        let (target, bodies) = self.split();
        let given = bodies.given();
        let target = ConnectionTarget::parse(catalog, target, None, &mut issues);
        let scheme = choose_scheme(&given, provider, &mut issues);
        let mut parsed = bodies.parse(provider, &mut issues);
        let credentials = match scheme {
            Some(AuthScheme::None) => Some(SuppliedCredentials::None),
            Some(_) if parsed.len() == 1 => parsed.pop(),
            _ => None,
        };
        GenerateConnection::new(target, credentials, issues)
    }
}

impl UpdateConnectionRequest {
    /// The body as an `UpdateConnection` for a connection of `scheme`: the
    /// mask, and the values of the fields it names (issues about them
    /// named `connection.…`); values it does not name are ignored.
    pub fn parse(self, scheme: AuthScheme) -> DomainResult<UpdateConnection> {
        let mut issues = Vec::new();
        let (target, mut bodies) = self.connection.split();
        let sent = |field: UpdatableField| match field {
            UpdatableField::ProviderWorkspaceRef => target.workspace.is_some(),
            UpdatableField::ProviderMetadata => !target.metadata.is_empty(),
            UpdatableField::ApiKey => bodies.api_key.is_some(),
            UpdatableField::BasicAuth => bodies.basic_auth.is_some(),
            UpdatableField::OAuth2ClientCredentials => bodies.oauth2_client_credentials.is_some(),
            UpdatableField::OAuth2PasswordCredentials => {
                bodies.oauth2_password_credentials.is_some()
            }
        };
        let mask = UpdateMask::parse(&self.update_mask, sent, scheme, &mut issues);
        let masked = |field: &str| self.update_mask.iter().any(|m| m == field);
        // Only the masked credentials are checked (and used).
        bodies = CredentialBodies {
            api_key: bodies.api_key.filter(|_| masked("apiKey")),
            basic_auth: bodies.basic_auth.filter(|_| masked("basicAuth")),
            oauth2_client_credentials: bodies
                .oauth2_client_credentials
                .filter(|_| masked("oauth2ClientCredentials")),
            oauth2_password_credentials: bodies
                .oauth2_password_credentials
                .filter(|_| masked("oauth2PasswordCredentials")),
            ..CredentialBodies::default()
        };
        let mut credential_issues = Vec::new();
        let credentials = bodies.parse(None, &mut credential_issues).pop();
        issues.extend(credential_issues.into_iter().map(|mut issue| {
            issue.name = format!("connection.{}", issue.name);
            issue
        }));
        let workspace = target.workspace.filter(|_| masked("providerWorkspaceRef"));
        let metadata = masked("providerMetadata").then_some(target.metadata);
        UpdateConnection::parse(mask, workspace, metadata, credentials, issues)
    }
}
