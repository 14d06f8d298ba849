//! `PATCH …/connections/{id}` (Ampersand's updateConnection): rotate the
//! credentials a caller supplied (API key, basic auth, client or password
//! credentials) or change the workspace and metadata inputs, in place.
//!
//! The write is fenced on the credentials version it read, as a refresh is:
//! a refresh in flight with the old credentials cannot overwrite the new
//! ones, and two updates racing cannot silently lose one (the second is a
//! 409 to retry).

use crate::domain::catalog::AuthScheme;
use crate::domain::connections::generate::{check_scheme_fields, GenerateInput};
use crate::domain::connections::target::MetadataInput;
use crate::domain::error::{check_text, DomainError, DomainResult, FieldIssue, OrNotFound};
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{connection_event_data, with_status_change, EventKind};
use crate::domain::model::{
    Connection, ConnectionStatus, MetadataSource, MetadataValue, Project, ProviderMetadata,
};
use crate::domain::scopes::CredentialAccess;
use crate::storage::{now_millis, ConnectionUpdate};
use std::collections::BTreeMap;

/// The fields `updateMask` may name, as Ampersand defines them.
pub const UPDATABLE_FIELDS: [&str; 6] = [
    "providerWorkspaceRef",
    "providerMetadata",
    "apiKey",
    "basicAuth",
    "oauth2ClientCredentials",
    "oauth2PasswordCredentials",
];

/// The body of updateConnection, before validation: the mask and the
/// values; values the mask does not name are ignored.
#[derive(Debug, Default)]
pub struct UpdateConnectionInput {
    pub update_mask: Vec<String>,
    /// The new values, in the shape of `connections:generate`.
    pub connection: GenerateInput,
}

/// Which credential field of the body belongs to which stored scheme.
fn credential_field(scheme: AuthScheme) -> Option<&'static str> {
    match scheme {
        AuthScheme::ApiKey => Some("apiKey"),
        AuthScheme::Basic => Some("basicAuth"),
        AuthScheme::OAuth2ClientCredentials => Some("oauth2ClientCredentials"),
        AuthScheme::OAuth2Password => Some("oauth2PasswordCredentials"),
        _ => None,
    }
}

fn present(connection: &GenerateInput, field: &str) -> bool {
    match field {
        "providerWorkspaceRef" => connection.provider_workspace_ref.is_some(),
        "providerMetadata" => !connection.provider_metadata.is_empty(),
        "apiKey" => connection.api_key.is_some(),
        "basicAuth" => connection.basic_auth.is_some(),
        "oauth2ClientCredentials" => connection.oauth2_client_credentials.is_some(),
        "oauth2PasswordCredentials" => connection.oauth2_password_credentials.is_some(),
        _ => false,
    }
}

/// Checks the mask against the fields and the connection's scheme.
fn check_mask(
    mask: &[String],
    connection: &GenerateInput,
    scheme: AuthScheme,
    issues: &mut Vec<FieldIssue>,
) {
    if mask.is_empty() {
        issues.push(FieldIssue::body(
            "updateMask",
            serde_json::json!([]),
            format!(
                "updateMask must name at least one of {}",
                UPDATABLE_FIELDS.join(", ")
            ),
        ));
    }
    for (i, field) in mask.iter().enumerate() {
        if !UPDATABLE_FIELDS.contains(&field.as_str()) {
            issues.push(FieldIssue::body(
                format!("updateMask[{i}]"),
                field.as_str(),
                format!(
                    "{field} cannot be updated; the allowed values are {}",
                    UPDATABLE_FIELDS.join(", ")
                ),
            ));
            continue;
        }
        if !present(connection, field) {
            issues.push(FieldIssue::body(
                format!("connection.{field}"),
                serde_json::Value::Null,
                format!("updateMask names {field}, so connection.{field} is required"),
            ));
        }
        let is_credential = !matches!(field.as_str(), "providerWorkspaceRef" | "providerMetadata");
        if is_credential && credential_field(scheme) != Some(field.as_str()) {
            issues.push(FieldIssue::body(
                format!("updateMask[{i}]"),
                field.as_str(),
                format!(
                    "the connection's auth scheme is {}; {field} does not belong to it",
                    scheme.as_str()
                ),
            ));
        }
    }
}

impl Grantd {
    /// Applies an updateConnection request and answers with the connection
    /// as stored, its credentials as far as `access` allows.
    pub async fn update_connection(
        &self,
        project: &Project,
        id: &str,
        input: UpdateConnectionInput,
        access: CredentialAccess,
    ) -> DomainResult<Connection> {
        let record = self
            .store()
            .find_connection(&project.id, id)
            .await
            .or_not_found("connection")?;
        let stored = self.open_credentials(&record)?;
        let masked = |field: &str| input.update_mask.iter().any(|m| m == field);
        let mut issues = Vec::new();
        check_mask(
            &input.update_mask,
            &input.connection,
            stored.auth_scheme(),
            &mut issues,
        );
        // Only the masked values are checked (and used): the others may be
        // anything, as Ampersand ignores them.
        let mut only_masked = GenerateInput::default();
        let c = input.connection;
        if masked("apiKey") {
            only_masked.api_key = c.api_key;
        }
        if masked("basicAuth") {
            only_masked.basic_auth = c.basic_auth;
        }
        if masked("oauth2ClientCredentials") {
            only_masked.oauth2_client_credentials = c.oauth2_client_credentials;
        }
        if masked("oauth2PasswordCredentials") {
            only_masked.oauth2_password_credentials = c.oauth2_password_credentials;
        }
        let mut fields = Vec::new();
        check_scheme_fields(&only_masked, &mut fields);
        issues.extend(fields.into_iter().map(|mut issue| {
            issue.name = format!("connection.{}", issue.name);
            issue
        }));

        let mut metadata: ProviderMetadata = record.provider_metadata.clone();
        let workspace = if masked("providerWorkspaceRef") {
            c.provider_workspace_ref
                .clone()
                .filter(|w| check_text("connection.providerWorkspaceRef", w, &mut issues))
        } else {
            record.provider_workspace_ref.clone()
        };
        if masked("providerMetadata") {
            replace_inputs(&mut metadata, &c.provider_metadata, &mut issues);
        }
        let provider =
            self.catalog()
                .get(&record.provider)
                .ok_or_else(|| DomainError::CatalogIncomplete {
                    provider: record.provider.clone(),
                    missing: "catalog entry",
                })?;
        if issues.is_empty() && (masked("providerWorkspaceRef") || masked("providerMetadata")) {
            let inputs: BTreeMap<String, String> = metadata
                .iter()
                .filter(|(_, v)| v.source == MetadataSource::Input)
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect();
            let mut input_issues = Vec::new();
            provider.check_inputs(workspace.as_deref(), &inputs, &mut input_issues);
            issues.extend(input_issues.into_iter().map(|mut issue| {
                issue.name = format!("connection.{}", issue.name);
                issue
            }));
        }
        if !issues.is_empty() {
            return Err(DomainError::Validation(issues));
        }

        let rotates_credentials = only_masked.api_key.is_some()
            || only_masked.basic_auth.is_some()
            || only_masked.oauth2_client_credentials.is_some()
            || only_masked.oauth2_password_credentials.is_some();
        let credentials = if rotates_credentials {
            // The grants fetch a token with the new secrets now, so a wrong
            // secret is refused (422) before anything is stored.
            only_masked.provider_workspace_ref = workspace.clone();
            let (credentials, _) = self
                .obtain_credentials(&project.id, provider, &only_masked, &mut metadata)
                .await?;
            credentials
        } else {
            stored
        };
        let old_status = record.status;
        let (status, last_error, failures, refresh_due_at) = if rotates_credentials {
            // New secrets are presumed good, like a re-authorization.
            (
                ConnectionStatus::Working,
                None,
                0,
                self.refresh_due_at(&credentials),
            )
        } else {
            (
                old_status,
                record.last_error.clone(),
                record.refresh_failures,
                record.refresh_due_at,
            )
        };
        let sealed = self.seal_credentials(&record.id, &credentials)?;
        let scopes = credentials
            .tokens()
            .map(|t| t.scopes.clone())
            .unwrap_or_default();
        let written = self
            .store()
            .update_connection_in_place(&ConnectionUpdate {
                id: record.id.clone(),
                project_id: project.id.clone(),
                read_version: record.credentials_version,
                provider_workspace_ref: workspace,
                provider_metadata: metadata.clone(),
                scopes,
                credentials_key_id: sealed.key_id,
                credentials_ciphertext: sealed.bytes,
                access_token_expires_at: credentials
                    .access_token_expires_at()
                    .map(|t| t.timestamp_millis()),
                refresh_due_at,
                status,
                last_error,
                refresh_failures: failures,
                now: now_millis(),
            })
            .await?;
        if !written {
            return Err(DomainError::Conflict(
                "the connection changed while it was being updated (a refresh or another \
                 update); read it again and retry"
                    .into(),
            ));
        }
        let data = connection_event_data(
            &record.id,
            &record.provider,
            &record.group_ref,
            &record.consumer_ref,
        );
        let mut updated = data.clone();
        if let serde_json::Value::Object(map) = &mut updated {
            map.insert("updateMask".into(), serde_json::json!(input.update_mask));
        }
        self.record_event_after_write(&project.id, &record.id, EventKind::Updated, updated)
            .await;
        if status != old_status {
            self.record_event_after_write(
                &project.id,
                &record.id,
                EventKind::StatusChanged,
                with_status_change(data, old_status, status),
            )
            .await;
        }
        self.get_connection(&project.id, &record.id, access).await
    }
}

/// Replaces the caller-supplied metadata with `given`; what came from the
/// provider (its token response or its API) stays.
fn replace_inputs(
    metadata: &mut ProviderMetadata,
    given: &BTreeMap<String, MetadataInput>,
    issues: &mut Vec<FieldIssue>,
) {
    metadata.retain(|_, v| v.source != MetadataSource::Input);
    for (name, input) in given {
        let field = format!("connection.providerMetadata.{name}.value");
        if check_text(&field, &input.value, issues) {
            metadata.insert(
                name.clone(),
                MetadataValue {
                    value: input.value.clone(),
                    source: MetadataSource::Input,
                },
            );
        }
    }
}
