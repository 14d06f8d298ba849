//! Provider apps: a project's OAuth clients, one or more per provider.

use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::catalog::Catalog;
use crate::domain::error::{check_text, DomainError, DomainResult, FieldIssue, OrNotFound};
use crate::domain::fields::Secret;
use crate::domain::handle::Grantd;
use crate::domain::model::{from_millis, ProviderApp, ProviderAppMetadata};
use crate::secrets::{Sealed, SecretString};
use crate::storage::{now_millis, NewProviderApp, ProviderAppRow, ProviderAppUpdate};
use serde_json::{json, Value};

/// The associated data binding a client secret to its app.
pub(in crate::domain) fn secret_aad(app_id: &str) -> String {
    format!("provider_app:{app_id}:client_secret")
}

/// A provider an app may be registered for: in the catalog (by its
/// canonical name) and using OAuth 2.0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppProvider(String);

impl AppProvider {
    pub fn parse(
        catalog: &Catalog,
        name: Option<String>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let Some(name) = name.map(|name| catalog.canonical(name)) else {
            issues.push(FieldIssue::body(
                "provider",
                Value::Null,
                "provider is required",
            ));
            return None;
        };
        let detail = match catalog.get(&name) {
            None => format!("unknown provider {name}"),
            Some(p) if p.oauth2.is_none() => {
                format!("provider {name} does not use OAuth 2.0 apps")
            }
            Some(_) => return Some(AppProvider(name)),
        };
        issues.push(FieldIssue::body("provider", name.as_str(), detail));
        None
    }
}

/// An OAuth client id: not blank, printable (it ends up in authorization URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(value: Option<String>, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        let before = issues.len();
        match value.as_deref() {
            None => issues.push(FieldIssue::body(
                "clientId",
                Value::Null,
                "clientId is required",
            )),
            Some(v) if v.trim().is_empty() => issues.push(FieldIssue::body(
                "clientId",
                v,
                "clientId must not be empty",
            )),
            Some(_) => {}
        }
        if let Some(v) = value.as_deref() {
            check_text("clientId", v, issues);
        }
        value.filter(|_| issues.len() == before).map(ClientId)
    }
}

/// An app's stored text an operator reads in listings (`externalRef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppText(String);

impl AppText {
    pub fn parse(field: &str, value: String, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        check_text(field, &value, issues).then_some(AppText(value))
    }
}

/// An app's scopes, each printable (they end up in authorization URLs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppScopes(Vec<String>);

impl AppScopes {
    pub fn parse(scopes: Vec<String>, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        let before = issues.len();
        for (i, scope) in scopes.iter().enumerate() {
            check_text(&format!("scopes[{i}]"), scope, issues);
        }
        (issues.len() == before).then_some(AppScopes(scopes))
    }
}

/// A replacement client secret: not empty.
#[derive(Debug, Clone)]
pub struct NewClientSecret(SecretString);

impl NewClientSecret {
    pub fn parse(secret: SecretString, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        if secret.is_empty() {
            issues.push(FieldIssue::body(
                "clientSecret",
                "",
                "clientSecret must not be empty",
            ));
            return None;
        }
        Some(NewClientSecret(secret))
    }
}

/// The default flag of an update: an app can be made the default, never
/// unset (another app is made the default instead).
pub fn make_default(is_default: Option<bool>, issues: &mut Vec<FieldIssue>) -> Option<bool> {
    if is_default == Some(false) {
        issues.push(FieldIssue::body(
            "isDefault",
            false,
            "make another app the default instead of unsetting this one",
        ));
        return None;
    }
    Some(is_default == Some(true))
}

/// The provider an update names (Ampersand's form may name it): it must be
/// the app's own, `current`; an app cannot move to another provider.
pub fn same_provider(named: &str, current: &str, issues: &mut Vec<FieldIssue>) {
    if named != current {
        issues.push(FieldIssue::body(
            "providerApp.provider",
            named,
            format!(
                "an app's provider cannot change (this one is for {current}); create an app for {named}"
            ),
        ));
    }
}

/// A new provider app, parsed. Every field is a parsed value, so a value
/// of this type needs no further check.
#[derive(Debug)]
pub struct CreateProviderApp {
    pub provider: AppProvider,
    pub client_id: ClientId,
    pub client_secret: Secret,
    pub scopes: AppScopes,
    pub external_ref: Option<AppText>,
    /// `None`: the default when it is the provider's first app.
    pub is_default: Option<bool>,
    pub metadata: AppMetadata,
}

/// A provider app update, parsed: each field `Some` when it changes.
#[derive(Debug, Default)]
pub struct UpdateProviderApp {
    pub client_id: Option<ClientId>,
    pub client_secret: Option<NewClientSecret>,
    pub scopes: Option<AppScopes>,
    /// `Some(None)` clears the reference.
    pub external_ref: Option<Option<AppText>>,
    pub make_default: bool,
    pub metadata: Option<AppMetadata>,
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
#[derive(Debug, Clone, Default)]
pub struct AppMetadata(ProviderAppMetadata);

impl AppMetadata {
    pub fn parse(metadata: ProviderAppMetadata, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        let before = issues.len();
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
        (issues.len() == before).then_some(AppMetadata(metadata))
    }
}

fn metadata_json(metadata: &ProviderAppMetadata) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

impl Grantd {
    /// Registers a parsed app; the provider's first app is its default
    /// unless the request says otherwise.
    pub async fn create_provider_app(
        &self,
        actor: &Actor,
        project_id: &str,
        app: CreateProviderApp,
    ) -> DomainResult<ProviderApp> {
        let provider = app.provider.0;
        let is_default = match app.is_default {
            Some(explicit) => explicit,
            None => {
                self.store()
                    .count_provider_apps(project_id, &provider)
                    .await?
                    == 0
            }
        };
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self.cipher().seal(
            app.client_secret.get().expose().as_bytes(),
            &secret_aad(&id),
        );
        let now = now_millis();
        let row = NewProviderApp {
            id,
            project_id: project_id.to_owned(),
            provider,
            external_ref: app.external_ref.map(|r| r.0),
            client_id: app.client_id.0,
            client_secret_key_id: sealed.key_id,
            client_secret_ciphertext: sealed.bytes,
            scopes: app.scopes.0,
            is_default: i64::from(is_default),
            create_time: now,
            update_time: now,
            metadata: metadata_json(&app.metadata.0),
        };
        self.store().insert_provider_app(&row).await?;
        // A new default replaces the old one in flows started from now on.
        self.caches().provider_apps.clear();
        self.audit_after_write(
            actor,
            AuditEntry::new(AuditAction::ProviderAppCreate, project_id)
                .target(&row.id)
                .detail(json!({"provider": row.provider, "clientId": row.client_id})),
        )
        .await;
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

    /// Applies a parsed update; absent fields stay as they are.
    pub async fn update_provider_app(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
        update: UpdateProviderApp,
    ) -> DomainResult<ProviderApp> {
        // Which fields changed, by name: never their values (one is a secret).
        let changed: Vec<&str> = [
            ("externalRef", update.external_ref.is_some()),
            ("clientId", update.client_id.is_some()),
            ("clientSecret", update.client_secret.is_some()),
            ("scopes", update.scopes.is_some()),
            ("isDefault", update.make_default),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect();
        let client_secret = update.client_secret.map(|secret| {
            let sealed = self
                .cipher()
                .seal(secret.0.expose().as_bytes(), &secret_aad(id));
            (sealed.key_id, sealed.bytes)
        });
        let row = self
            .store()
            .update_provider_app(
                project_id,
                id,
                ProviderAppUpdate {
                    external_ref: update.external_ref.map(|r| r.map(|r| r.0)),
                    client_id: update.client_id.map(|c| c.0),
                    client_secret,
                    scopes: update.scopes.map(|s| s.0),
                    metadata: update.metadata.map(|m| metadata_json(&m.0)),
                    make_default: update.make_default,
                    update_time: now_millis(),
                },
            )
            .await
            .or_not_found("provider app")?;
        // Flows started from now on on this instance must use the new client
        // id, secret, scopes and default at once, not after the cache's TTL.
        self.caches().provider_apps.clear();
        self.audit_after_write(
            actor,
            AuditEntry::new(AuditAction::ProviderAppUpdate, project_id)
                .target(id)
                .detail(json!({"provider": row.provider, "changed": changed})),
        )
        .await;
        self.decode_provider_app(row)
    }

    pub async fn delete_provider_app(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
    ) -> DomainResult<()> {
        let deleted = self
            .store()
            .delete_provider_app(project_id, id)
            .await
            .or_not_found("provider app");
        self.caches().provider_apps.clear();
        if deleted.is_ok() {
            self.audit_after_write(
                actor,
                AuditEntry::new(AuditAction::ProviderAppDelete, project_id).target(id),
            )
            .await;
        }
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
