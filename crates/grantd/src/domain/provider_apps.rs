//! Provider apps: a project's OAuth clients, one or more per provider.

use crate::domain::error::{check_text, DomainError, DomainResult, FieldIssue, OrNotFound};
use crate::domain::handle::Grantd;
use crate::domain::model::{from_millis, ProviderApp, ProviderAppMetadata};
use crate::secrets::{Sealed, SecretString};
use crate::storage::{now_millis, NewProviderApp, ProviderAppRow, ProviderAppUpdate};

/// Fields of a new provider app, as received.
#[derive(Debug, Default)]
pub struct ProviderAppInput {
    pub provider: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
    pub external_ref: Option<String>,
    pub is_default: Option<bool>,
    pub metadata: Option<ProviderAppMetadata>,
}

/// A partial update; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct ProviderAppPatch {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
    pub external_ref: Option<Option<String>>,
    pub is_default: Option<bool>,
    pub metadata: Option<ProviderAppMetadata>,
    /// Only the app's own provider: an app cannot move to another provider.
    pub provider: Option<String>,
}

/// The associated data binding a client secret to its app.
fn secret_aad(app_id: &str) -> String {
    format!("provider_app:{app_id}:client_secret")
}

fn non_empty(field: &str, value: Option<&str>, issues: &mut Vec<FieldIssue>) {
    match value {
        None => issues.push(FieldIssue::body(
            field,
            serde_json::Value::Null,
            format!("{field} is required"),
        )),
        Some(v) if v.trim().is_empty() => issues.push(FieldIssue::body(
            field,
            v,
            format!("{field} must not be empty"),
        )),
        _ => {}
    }
}

/// The app's stored text: what an operator reads in listings and what ends
/// up in authorization URLs.
fn check_app_text(
    client_id: Option<&str>,
    external_ref: Option<&str>,
    scopes: Option<&[String]>,
    issues: &mut Vec<FieldIssue>,
) {
    if let Some(client_id) = client_id {
        check_text("clientId", client_id, issues);
    }
    if let Some(external_ref) = external_ref {
        check_text("externalRef", external_ref, issues);
    }
    for (i, scope) in scopes.unwrap_or_default().iter().enumerate() {
        check_text(&format!("scopes[{i}]"), scope, issues);
    }
}

/// Query parameters grantd itself writes into an authorization URL; an app's
/// `authQueryParams` may not replace them.
const RESERVED_AUTH_PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// An app's metadata: printable names and values, and no parameter that
/// would override the flow's own.
fn check_metadata(metadata: Option<&ProviderAppMetadata>, issues: &mut Vec<FieldIssue>) {
    let Some(metadata) = metadata else { return };
    for (name, values) in &metadata.auth_query_params {
        let field = format!("metadata.authQueryParams.{name}");
        if RESERVED_AUTH_PARAMS.contains(&name.as_str()) || name.is_empty() {
            issues.push(FieldIssue::body(
                field.as_str(),
                name.as_str(),
                format!("{name:?} is set by grantd's flow and cannot be added"),
            ));
            continue;
        }
        check_text(&field, name, issues);
        for (i, value) in values.iter().enumerate() {
            check_text(&format!("{field}[{i}]"), value, issues);
        }
    }
    for (name, value) in &metadata.provider_params {
        check_text(&format!("metadata.providerParams.{name}"), value, issues);
    }
}

fn metadata_json(metadata: &ProviderAppMetadata) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

impl Grantd {
    pub async fn create_provider_app(
        &self,
        project_id: &str,
        mut input: ProviderAppInput,
    ) -> DomainResult<ProviderApp> {
        input.provider = input.provider.map(|name| self.catalog().canonical(name));
        let mut issues = Vec::new();
        match input.provider.as_deref() {
            None => issues.push(FieldIssue::body(
                "provider",
                serde_json::Value::Null,
                "provider is required",
            )),
            Some(name) => match self.catalog().get(name) {
                None => issues.push(FieldIssue::body(
                    "provider",
                    name,
                    format!("unknown provider {name}"),
                )),
                Some(p) if p.oauth2.is_none() => issues.push(FieldIssue::body(
                    "provider",
                    name,
                    format!("provider {name} does not use OAuth 2.0 apps"),
                )),
                Some(_) => {}
            },
        }
        non_empty("clientId", input.client_id.as_deref(), &mut issues);
        check_app_text(
            input.client_id.as_deref(),
            input.external_ref.as_deref(),
            input.scopes.as_deref(),
            &mut issues,
        );
        check_metadata(input.metadata.as_ref(), &mut issues);
        if input.client_secret.as_ref().is_none_or(|s| s.is_empty()) {
            issues.push(FieldIssue::body(
                "clientSecret",
                serde_json::Value::Null,
                "clientSecret is required",
            ));
        }
        if !issues.is_empty() {
            return Err(DomainError::Validation(issues));
        }
        let provider = input.provider.unwrap_or_default();
        let is_default = match input.is_default {
            Some(explicit) => explicit,
            None => {
                self.store()
                    .count_provider_apps(project_id, &provider)
                    .await?
                    == 0
            }
        };
        let id = uuid::Uuid::now_v7().to_string();
        let secret = input.client_secret.unwrap_or_default();
        let sealed = self
            .cipher()
            .seal(secret.expose().as_bytes(), &secret_aad(&id));
        let now = now_millis();
        let row = NewProviderApp {
            id,
            project_id: project_id.to_owned(),
            provider,
            external_ref: input.external_ref,
            client_id: input.client_id.unwrap_or_default(),
            client_secret_key_id: sealed.key_id,
            client_secret_ciphertext: sealed.bytes,
            scopes: input.scopes.unwrap_or_default(),
            is_default: i64::from(is_default),
            create_time: now,
            update_time: now,
            metadata: metadata_json(&input.metadata.unwrap_or_default()),
        };
        self.store().insert_provider_app(&row).await?;
        // A new default replaces the old one in flows started from now on.
        self.caches().provider_apps.clear();
        self.decode_provider_app(row)
    }

    pub async fn get_provider_app(&self, project_id: &str, id: &str) -> DomainResult<ProviderApp> {
        let row = self
            .store()
            .find_provider_app(project_id, id)
            .await
            .or_not_found("provider app")?;
        self.decode_provider_app(row)
    }

    pub async fn list_provider_apps(&self, project_id: &str) -> DomainResult<Vec<ProviderApp>> {
        self.store()
            .list_provider_apps(project_id)
            .await?
            .into_iter()
            .map(|row| self.decode_provider_app(row))
            .collect()
    }

    pub async fn update_provider_app(
        &self,
        project_id: &str,
        id: &str,
        patch: ProviderAppPatch,
    ) -> DomainResult<ProviderApp> {
        let mut issues = Vec::new();
        if patch.client_id.is_some() {
            non_empty("clientId", patch.client_id.as_deref(), &mut issues);
        }
        check_app_text(
            patch.client_id.as_deref(),
            patch.external_ref.as_ref().and_then(Option::as_deref),
            patch.scopes.as_deref(),
            &mut issues,
        );
        check_metadata(patch.metadata.as_ref(), &mut issues);
        if patch.client_secret.as_ref().is_some_and(|s| s.is_empty()) {
            issues.push(FieldIssue::body(
                "clientSecret",
                "",
                "clientSecret must not be empty",
            ));
        }
        if let Some(provider) = &patch.provider {
            let current = self
                .store()
                .find_provider_app(project_id, id)
                .await
                .or_not_found("provider app")?;
            if *provider != current.provider {
                issues.push(FieldIssue::body(
                    "providerApp.provider",
                    provider.as_str(),
                    format!(
                        "an app's provider cannot change (this one is for {}); create an app for {provider}",
                        current.provider
                    ),
                ));
            }
        }
        if patch.is_default == Some(false) {
            issues.push(FieldIssue::body(
                "isDefault",
                false,
                "make another app the default instead of unsetting this one",
            ));
        }
        if !issues.is_empty() {
            return Err(DomainError::Validation(issues));
        }
        let client_secret = patch.client_secret.map(|secret| {
            let sealed = self
                .cipher()
                .seal(secret.expose().as_bytes(), &secret_aad(id));
            (sealed.key_id, sealed.bytes)
        });
        let row = self
            .store()
            .update_provider_app(
                project_id,
                id,
                ProviderAppUpdate {
                    external_ref: patch.external_ref,
                    client_id: patch.client_id,
                    client_secret,
                    scopes: patch.scopes.clone(),
                    metadata: patch.metadata.as_ref().map(metadata_json),
                    make_default: patch.is_default == Some(true),
                    update_time: now_millis(),
                },
            )
            .await
            .or_not_found("provider app")?;
        // Flows started from now on on this instance must use the new client
        // id, secret, scopes and default at once, not after the cache's TTL.
        self.caches().provider_apps.clear();
        self.decode_provider_app(row)
    }

    pub async fn delete_provider_app(&self, project_id: &str, id: &str) -> DomainResult<()> {
        let deleted = self
            .store()
            .delete_provider_app(project_id, id)
            .await
            .or_not_found("provider app");
        self.caches().provider_apps.clear();
        deleted
    }

    /// The row of the named app, or of the provider's default app, through
    /// the cache. The row's provider is not checked here.
    async fn provider_app_row(
        &self,
        project_id: &str,
        provider: &str,
        provider_app_id: Option<&str>,
    ) -> Result<ProviderAppRow, crate::storage::StoreError> {
        let cache_key = (
            project_id.to_owned(),
            provider.to_owned(),
            provider_app_id.map(str::to_owned),
        );
        if let Some(row) = self.caches().provider_apps.get(&cache_key) {
            return Ok(row);
        }
        let row = match provider_app_id {
            Some(id) => self.store().find_provider_app(project_id, id).await?,
            None => {
                self.store()
                    .find_default_provider_app(project_id, provider)
                    .await?
            }
        };
        self.caches().provider_apps.insert(cache_key, row.clone());
        Ok(row)
    }

    /// The app a flow was started with, for its callback: `NotFound` when
    /// it was deleted since.
    pub(in crate::domain) async fn flow_provider_app(
        &self,
        project_id: &str,
        provider: &str,
        id: &str,
    ) -> DomainResult<ProviderApp> {
        let row = self
            .provider_app_row(project_id, provider, Some(id))
            .await
            .or_not_found("provider app")?;
        self.decode_provider_app(row)
    }

    /// The id of the provider's default app in the project, if it has one.
    pub(in crate::domain) async fn default_provider_app_id(
        &self,
        project_id: &str,
        provider: &str,
    ) -> DomainResult<Option<String>> {
        match self.provider_app_row(project_id, provider, None).await {
            Ok(row) => Ok(Some(row.id)),
            Err(crate::storage::StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// The app an OAuth flow uses: the named one, or the provider's default.
    /// Problems are reported against `providerAppId`.
    pub(in crate::domain) async fn resolve_provider_app(
        &self,
        project_id: &str,
        provider: &str,
        provider_app_id: Option<&str>,
    ) -> DomainResult<ProviderApp> {
        let found = self
            .provider_app_row(project_id, provider, provider_app_id)
            .await;
        let row = match found {
            Ok(row) => row,
            Err(crate::storage::StoreError::NotFound) => {
                let detail = match provider_app_id {
                    Some(id) => format!("no provider app {id} in this project"),
                    None => format!(
                        "no default provider app for {provider}; create one or pass providerAppId"
                    ),
                };
                return Err(DomainError::invalid(FieldIssue::body(
                    "providerAppId",
                    provider_app_id
                        .map(serde_json::Value::from)
                        .unwrap_or_default(),
                    detail,
                )));
            }
            Err(other) => return Err(other.into()),
        };
        if row.provider != provider {
            return Err(DomainError::invalid(FieldIssue::body(
                "providerAppId",
                row.id.as_str(),
                format!(
                    "provider app {} is for {}, not {provider}",
                    row.id, row.provider
                ),
            )));
        }
        self.decode_provider_app(row)
    }

    fn decode_provider_app(&self, row: ProviderAppRow) -> DomainResult<ProviderApp> {
        let sealed = Sealed {
            key_id: row.client_secret_key_id,
            bytes: row.client_secret_ciphertext,
        };
        let secret = self.cipher().open(&sealed, &secret_aad(&row.id))?;
        let secret = String::from_utf8(secret).map_err(|source| DomainError::SecretNotText {
            what: "client secret",
            source,
        })?;
        Ok(ProviderApp {
            id: row.id,
            project_id: row.project_id,
            provider: row.provider,
            external_ref: row.external_ref,
            client_id: row.client_id,
            client_secret: SecretString::new(secret),
            scopes: row.scopes,
            is_default: row.is_default != 0,
            metadata: serde_json::from_str(&row.metadata).map_err(|e| {
                crate::storage::StoreError::Corrupt(crate::storage::CorruptColumn {
                    table: "provider_apps",
                    column: "metadata",
                    reason: e.to_string(),
                })
            })?,
            create_time: from_millis(row.create_time),
            update_time: from_millis(row.update_time),
        })
    }
}
