//! `PATCH …/connections/{id}` (Ampersand's updateConnection): rotate the
//! credentials a caller supplied (API key, basic auth, client or password
//! credentials) or change the workspace and metadata inputs, in place.
//!
//! The write is fenced on the credentials version it read, as a refresh is:
//! a refresh in flight with the old credentials cannot overwrite the new
//! ones, and two updates racing cannot silently lose one (the second is a
//! 409 to retry).

use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::catalog::AuthScheme;
use crate::domain::connections::credentials::{scheme_field, SuppliedCredentials};
use crate::domain::connections::generate::TokenSource;
use crate::domain::error::{check_text, DomainError, DomainResult, FieldIssue, OrNotFound};
use crate::domain::fields::finish;
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{connection_event_data, with_status_change, EventKind};
use crate::domain::model::{
    Connection, ConnectionStatus, Credentials, MetadataSource, MetadataValue, Project,
    ProviderMetadata,
};
use crate::domain::scopes::CredentialAccess;
use crate::storage::{now_millis, ConnectionRecord, ConnectionUpdate};
use std::collections::BTreeMap;

/// A field `updateMask` may name, as Ampersand defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatableField {
    ProviderWorkspaceRef,
    ProviderMetadata,
    ApiKey,
    BasicAuth,
    OAuth2ClientCredentials,
    OAuth2PasswordCredentials,
}

impl UpdatableField {
    pub const ALL: [UpdatableField; 6] = [
        UpdatableField::ProviderWorkspaceRef,
        UpdatableField::ProviderMetadata,
        UpdatableField::ApiKey,
        UpdatableField::BasicAuth,
        UpdatableField::OAuth2ClientCredentials,
        UpdatableField::OAuth2PasswordCredentials,
    ];

    /// The name in `updateMask` and in the body's `connection`.
    pub fn as_str(self) -> &'static str {
        match self.scheme() {
            Some(scheme) => scheme_field(scheme),
            None if self == UpdatableField::ProviderWorkspaceRef => "providerWorkspaceRef",
            None => "providerMetadata",
        }
    }

    /// The credential scheme a field carries; `None` for the inputs.
    pub fn scheme(self) -> Option<AuthScheme> {
        match self {
            UpdatableField::ProviderWorkspaceRef | UpdatableField::ProviderMetadata => None,
            UpdatableField::ApiKey => Some(AuthScheme::ApiKey),
            UpdatableField::BasicAuth => Some(AuthScheme::Basic),
            UpdatableField::OAuth2ClientCredentials => Some(AuthScheme::OAuth2ClientCredentials),
            UpdatableField::OAuth2PasswordCredentials => Some(AuthScheme::OAuth2Password),
        }
    }

    fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// `updateMask`, parsed against the connection's auth scheme: every entry
/// a field that may change, sent in the body, and (for credentials) of the
/// connection's own scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateMask(Vec<UpdatableField>);

impl UpdateMask {
    /// The mask, or `None` with every bad entry recorded. `sent` tells
    /// whether the body carries a field's value.
    pub fn parse(
        mask: &[String],
        sent: impl Fn(UpdatableField) -> bool,
        scheme: AuthScheme,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let before = issues.len();
        let allowed = || UpdatableField::ALL.map(UpdatableField::as_str).join(", ");
        if mask.is_empty() {
            issues.push(FieldIssue::body(
                "updateMask",
                serde_json::json!([]),
                format!("updateMask must name at least one of {}", allowed()),
            ));
        }
        let mut fields = Vec::with_capacity(mask.len());
        for (i, name) in mask.iter().enumerate() {
            let Some(field) = UpdatableField::named(name) else {
                issues.push(FieldIssue::body(
                    format!("updateMask[{i}]"),
                    name.as_str(),
                    format!(
                        "{name} cannot be updated; the allowed values are {}",
                        allowed()
                    ),
                ));
                continue;
            };
            if !sent(field) {
                issues.push(FieldIssue::body(
                    format!("connection.{name}"),
                    serde_json::Value::Null,
                    format!("updateMask names {name}, so connection.{name} is required"),
                ));
            }
            if field.scheme().is_some_and(|s| s != scheme) {
                issues.push(FieldIssue::body(
                    format!("updateMask[{i}]"),
                    name.as_str(),
                    format!(
                        "the connection's auth scheme is {}; {name} does not belong to it",
                        scheme.as_str()
                    ),
                ));
            }
            fields.push(field);
        }
        (issues.len() == before).then_some(UpdateMask(fields))
    }

    pub fn names(&self, field: UpdatableField) -> bool {
        self.0.contains(&field)
    }

    /// The entries as the caller sent them (for the event and the audit).
    fn as_strings(&self) -> Vec<&'static str> {
        self.0.iter().map(|f| f.as_str()).collect()
    }
}

/// An updateConnection request, parsed: the mask, and for each field it
/// names the new value (the others are ignored, as Ampersand does).
#[derive(Debug)]
pub struct UpdateConnection {
    mask: UpdateMask,
    workspace: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    credentials: Option<SuppliedCredentials>,
}

impl UpdateConnection {
    /// Checks the masked workspace and metadata (`Some` when the mask
    /// names them, whether or not the mask parsed), adding to the issues
    /// found so far (`credentials` is the masked credential block, parsed
    /// with its issues already named `connection.…`).
    pub fn parse(
        mask: Option<UpdateMask>,
        workspace: Option<String>,
        metadata: Option<BTreeMap<String, String>>,
        credentials: Option<SuppliedCredentials>,
        mut issues: Vec<FieldIssue>,
    ) -> DomainResult<Self> {
        let workspace =
            workspace.filter(|w| check_text("connection.providerWorkspaceRef", w, &mut issues));
        let metadata = metadata.map(|metadata| {
            metadata
                .into_iter()
                .filter(|(name, value)| {
                    let field = format!("connection.providerMetadata.{name}.value");
                    check_text(&field, value, &mut issues)
                })
                .collect()
        });
        let command = mask.map(|mask| UpdateConnection {
            mask,
            workspace,
            metadata,
            credentials,
        });
        finish(command, issues)
    }
}

impl Grantd {
    /// Applies an updateConnection request and answers with the connection
    /// as stored, its credentials as far as `access` allows. The request is
    /// parsed once the connection is read, against its auth scheme.
    pub async fn update_connection(
        &self,
        actor: &Actor,
        project: &Project,
        id: &str,
        parse: impl FnOnce(AuthScheme) -> DomainResult<UpdateConnection>,
        access: CredentialAccess,
    ) -> DomainResult<Connection> {
        let record = self
            .store()
            .find_connection(&project.id, id)
            .await
            .or_not_found("connection")?;
        let stored = self.open_credentials(&record)?;
        let update = parse(stored.auth_scheme())?;
        let (workspace, mut metadata) = self.updated_inputs(&record, &update)?;
        let new_credentials = match update.credentials {
            // The grants fetch a token with the new secrets now, so a wrong
            // secret is refused (422) before anything is stored.
            Some(supplied) => {
                let source = TokenSource {
                    project_id: &project.id,
                    provider: self.connection_provider(&record)?,
                    workspace: workspace.as_deref(),
                };
                let (credentials, _) = self
                    .obtain_credentials(&source, supplied, &mut metadata)
                    .await?;
                Some(credentials)
            }
            None => None,
        };
        let mask = update.mask.as_strings();
        let status = self
            .write_update(&record, workspace, metadata, new_credentials, stored)
            .await?;
        self.record_update(actor, &record, &mask, status).await;
        self.get_connection(actor, &project.id, &record.id, access)
            .await
    }

    /// The connection's provider, which a stored connection must still have.
    fn connection_provider(
        &self,
        record: &ConnectionRecord,
    ) -> DomainResult<&crate::domain::catalog::Provider> {
        self.catalog()
            .get(&record.provider)
            .ok_or_else(|| DomainError::CatalogIncomplete {
                provider: record.provider.clone(),
                missing: "catalog entry",
            })
    }

    /// The workspace and metadata after the update, checked against what
    /// the provider declares when the update changes either.
    fn updated_inputs(
        &self,
        record: &ConnectionRecord,
        update: &UpdateConnection,
    ) -> DomainResult<(Option<String>, ProviderMetadata)> {
        let provider = self.connection_provider(record)?;
        let mut metadata: ProviderMetadata = record.provider_metadata.clone();
        if let Some(given) = &update.metadata {
            replace_inputs(&mut metadata, given);
        }
        let workspace = match &update.workspace {
            Some(workspace) => Some(workspace.clone()),
            None => record.provider_workspace_ref.clone(),
        };
        if update.workspace.is_some() || update.metadata.is_some() {
            let inputs: BTreeMap<String, String> = metadata
                .iter()
                .filter(|(_, v)| v.source == MetadataSource::Input)
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect();
            let mut issues = Vec::new();
            provider.check_inputs(workspace.as_deref(), &inputs, &mut issues);
            if !issues.is_empty() {
                for issue in &mut issues {
                    issue.name = format!("connection.{}", issue.name);
                }
                return Err(DomainError::Validation(issues));
            }
        }
        Ok((workspace, metadata))
    }

    /// Writes the update, fenced on the credentials version read. New
    /// credentials are presumed good, like a re-authorization; without
    /// them the stored ones stay, and so does the connection's status.
    /// Returns the status as written.
    async fn write_update(
        &self,
        record: &ConnectionRecord,
        workspace: Option<String>,
        metadata: ProviderMetadata,
        new_credentials: Option<Credentials>,
        stored: Credentials,
    ) -> DomainResult<ConnectionStatus> {
        let rotates = new_credentials.is_some();
        let credentials = new_credentials.unwrap_or(stored);
        let (status, last_error, failures, refresh_due_at) = if rotates {
            (
                ConnectionStatus::Working,
                None,
                0,
                self.refresh_due_at(&credentials),
            )
        } else {
            (
                record.status,
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
                project_id: record.project_id.clone(),
                read_version: record.credentials_version,
                provider_workspace_ref: workspace,
                provider_metadata: metadata,
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
        Ok(status)
    }

    /// `connection.updated` (and `connection.status_changed` when new
    /// credentials revived it) and the audit entry.
    async fn record_update(
        &self,
        actor: &Actor,
        record: &ConnectionRecord,
        mask: &[&str],
        status: ConnectionStatus,
    ) {
        let project_id = &record.project_id;
        let data = connection_event_data(
            &record.id,
            &record.provider,
            &record.group_ref,
            &record.consumer_ref,
        );
        let mut updated = data.clone();
        if let serde_json::Value::Object(map) = &mut updated {
            map.insert("updateMask".into(), serde_json::json!(mask));
        }
        self.record_event_after_write(project_id, &record.id, EventKind::Updated, updated)
            .await;
        self.audit_after_write(
            actor,
            AuditEntry::new(AuditAction::ConnectionUpdate, project_id)
                .connection(&record.id)
                .detail(serde_json::json!({
                    "provider": record.provider,
                    "updateMask": mask,
                })),
        )
        .await;
        if status != record.status {
            self.record_event_after_write(
                project_id,
                &record.id,
                EventKind::StatusChanged,
                with_status_change(data, record.status, status),
            )
            .await;
        }
    }
}

/// Replaces the caller-supplied metadata with `given`; what came from the
/// provider (its token response or its API) stays.
fn replace_inputs(metadata: &mut ProviderMetadata, given: &BTreeMap<String, String>) {
    metadata.retain(|_, v| v.source != MetadataSource::Input);
    for (name, value) in given {
        let value = MetadataValue {
            value: value.clone(),
            source: MetadataSource::Input,
        };
        metadata.insert(name.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_mask_keeps_its_entries_in_order_as_sent() {
        let mut issues = Vec::new();
        let parsed = UpdateMask::parse(
            &mask(&["apiKey", "providerMetadata", "apiKey"]),
            |_| true,
            AuthScheme::ApiKey,
            &mut issues,
        )
        .unwrap();
        assert!(issues.is_empty());
        assert_eq!(
            parsed.as_strings(),
            ["apiKey", "providerMetadata", "apiKey"]
        );
        assert!(parsed.names(UpdatableField::ProviderMetadata));
        assert!(!parsed.names(UpdatableField::ProviderWorkspaceRef));
    }

    #[test]
    fn every_bad_mask_entry_is_named_by_its_index_or_its_missing_value() {
        let mut issues = Vec::new();
        let parsed = UpdateMask::parse(
            &mask(&["nope", "basicAuth", "providerWorkspaceRef"]),
            |field| field != UpdatableField::ProviderWorkspaceRef,
            AuthScheme::ApiKey,
            &mut issues,
        );
        assert!(parsed.is_none());
        let names: Vec<&str> = issues.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "updateMask[0]",
                "updateMask[1]",
                "connection.providerWorkspaceRef"
            ]
        );
    }

    #[test]
    fn the_field_names_are_ampersands() {
        let names = UpdatableField::ALL.map(UpdatableField::as_str);
        assert_eq!(
            names,
            [
                "providerWorkspaceRef",
                "providerMetadata",
                "apiKey",
                "basicAuth",
                "oauth2ClientCredentials",
                "oauth2PasswordCredentials"
            ]
        );
    }
}
