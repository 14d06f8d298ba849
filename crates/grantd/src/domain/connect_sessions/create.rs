//! Creating a connect session: the request parsed against what it depends
//! on in the project (its allowed origins, its providers' default apps, the
//! connection a re-authorization is for), then the session and its token.

use super::origins::{check_parent_origin, check_return_url};
use super::{CreatedConnectSession, TOKEN_PREFIX};
use crate::domain::catalog::{AuthScheme, Catalog};
use crate::domain::connections::target::{ConsumerRef, DisplayName, GroupRef};
use crate::domain::error::{DomainError, DomainResult, FieldIssue};
use crate::domain::fields::finish;
use crate::domain::handle::Grantd;
use crate::secrets::{random_token, sha256_hex, SecretString};
use crate::storage::{now_millis, ConnectSessionRow};
use serde_json::Value;
use std::collections::BTreeSet;
use url::Url;

/// Session lifetime when the caller names none.
pub const DEFAULT_TTL_SECS: i64 = 600;
const MIN_TTL_SECS: i64 = 60;
const MAX_TTL_SECS: i64 = 3600;
/// Most providers one session offers.
const MAX_PROVIDERS: usize = 50;

/// What a session request is checked against, read before it is parsed.
#[derive(Debug)]
pub struct SessionContext {
    /// The project's allowed origins.
    allowed: Vec<String>,
    /// Of the providers the request names, those with a default app.
    with_default_app: BTreeSet<String>,
    /// For a re-authorization, its connection, or why it cannot be one.
    reauthorized: Option<Result<Reauthorized, Vec<FieldIssue>>>,
}

/// The connection a re-authorization session is for.
#[derive(Debug)]
struct Reauthorized {
    connection_id: String,
    provider: String,
    group_ref: String,
    consumer_ref: String,
}

/// Which connection a session makes: a new one for a group and consumer,
/// with a choice of providers, or the re-authorization of an existing one.
#[derive(Debug)]
pub struct SessionTarget {
    providers: Vec<String>,
    group_ref: String,
    consumer_ref: String,
    connection_id: Option<String>,
}

impl SessionContext {
    /// Which connection the session makes: the re-authorization the
    /// context was read for, or else a new connection.
    pub fn target(
        &self,
        catalog: &Catalog,
        providers: Option<Vec<String>>,
        group_ref: Option<String>,
        consumer_ref: Option<String>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<SessionTarget> {
        match &self.reauthorized {
            Some(found) => {
                reauthorization(catalog, found, providers, group_ref, consumer_ref, issues)
            }
            None => self.new_connection(catalog, providers, group_ref, consumer_ref, issues),
        }
    }

    /// A new connection's session: its refs, and providers that are known,
    /// have an authorization code flow and a default app in the project.
    fn new_connection(
        &self,
        catalog: &Catalog,
        providers: Option<Vec<String>>,
        group_ref: Option<String>,
        consumer_ref: Option<String>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<SessionTarget> {
        let before = issues.len();
        let group_ref = GroupRef::parse(group_ref, issues);
        let consumer_ref = ConsumerRef::parse(consumer_ref, issues);
        let providers = self.session_providers(catalog, providers, issues);
        if issues.len() != before {
            return None;
        }
        Some(SessionTarget {
            providers,
            group_ref: group_ref?.into_string(),
            consumer_ref: consumer_ref?.into_string(),
            connection_id: None,
        })
    }

    fn session_providers(
        &self,
        catalog: &Catalog,
        providers: Option<Vec<String>>,
        issues: &mut Vec<FieldIssue>,
    ) -> Vec<String> {
        let Some(providers) = providers else {
            issues.push(FieldIssue::body(
                "providers",
                Value::Null,
                "providers is required",
            ));
            return Vec::new();
        };
        if providers.is_empty() || providers.len() > MAX_PROVIDERS {
            issues.push(FieldIssue::body(
                "providers",
                Value::Null,
                format!("providers must name 1 to {MAX_PROVIDERS} providers"),
            ));
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for (i, name) in providers.into_iter().enumerate() {
            let name = catalog.canonical(name);
            let detail = match catalog.get(&name) {
                None => format!("unknown provider {name}"),
                Some(p) if !p.supports(AuthScheme::OAuth2AuthorizationCode) => {
                    format!("provider {name} has no OAuth authorization code flow")
                }
                Some(_) if !self.with_default_app.contains(&name) => {
                    format!("no default provider app for {name} in this project; create one first")
                }
                Some(_) => {
                    if !out.contains(&name) {
                        out.push(name);
                    }
                    continue;
                }
            };
            issues.push(FieldIssue::body(
                format!("providers[{i}]"),
                name.as_str(),
                detail,
            ));
        }
        out
    }

    /// Where the browser and the result go back: a return URL and the
    /// embedding page's origin (by default the return URL's), both allowed.
    pub fn return_to(
        &self,
        return_url: Option<&str>,
        parent_origin: Option<&str>,
        issues: &mut Vec<FieldIssue>,
    ) -> ReturnTo {
        let return_url = check_return_url(return_url, &self.allowed, issues);
        let parent_origin = match parent_origin {
            Some(value) => check_parent_origin(value, &self.allowed, issues),
            None => return_url
                .as_ref()
                .map(|u| u.origin().ascii_serialization()),
        };
        ReturnTo {
            return_url,
            parent_origin,
        }
    }
}

/// A re-authorization session: the connection's provider, group and
/// consumer, which values the caller sent must agree with.
fn reauthorization(
    catalog: &Catalog,
    found: &Result<Reauthorized, Vec<FieldIssue>>,
    providers: Option<Vec<String>>,
    group_ref: Option<String>,
    consumer_ref: Option<String>,
    issues: &mut Vec<FieldIssue>,
) -> Option<SessionTarget> {
    let found = match found {
        Err(refused) => {
            issues.extend(refused.iter().cloned());
            return None;
        }
        Ok(found) => found,
    };
    let before = issues.len();
    let provider = &found.provider;
    if let Some(providers) = providers {
        let providers: Vec<String> = providers
            .into_iter()
            .map(|n| catalog.canonical(n))
            .collect();
        if providers.as_slice() != [provider.clone()] {
            issues.push(FieldIssue::body(
                "providers",
                Value::Null,
                format!(
                    "a re-authorization session is for the connection's provider: [\"{provider}\"]"
                ),
            ));
        }
    }
    for (field, given, actual) in [
        ("groupRef", group_ref, &found.group_ref),
        ("consumerRef", consumer_ref, &found.consumer_ref),
    ] {
        if let Some(given) = given.filter(|g| g != actual) {
            issues.push(FieldIssue::body(
                field,
                given.as_str(),
                format!("the connection belongs to {field} {actual}"),
            ));
        }
    }
    (issues.len() == before).then(|| SessionTarget {
        providers: vec![provider.clone()],
        group_ref: found.group_ref.clone(),
        consumer_ref: found.consumer_ref.clone(),
        connection_id: Some(found.connection_id.clone()),
    })
}

/// Where a session's browser and result go back.
#[derive(Debug)]
pub struct ReturnTo {
    return_url: Option<Url>,
    parent_origin: Option<String>,
}

/// A session's lifetime in seconds, within the allowed range.
#[derive(Debug, Clone, Copy)]
pub struct SessionTtl(i64);

impl SessionTtl {
    pub fn parse(seconds: Option<i64>, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        match seconds {
            None => Some(SessionTtl(DEFAULT_TTL_SECS)),
            Some(secs) if (MIN_TTL_SECS..=MAX_TTL_SECS).contains(&secs) => Some(SessionTtl(secs)),
            Some(secs) => {
                issues.push(FieldIssue::body(
                    "expiresInSeconds",
                    secs,
                    format!("expiresInSeconds must be between {MIN_TTL_SECS} and {MAX_TTL_SECS}"),
                ));
                None
            }
        }
    }
}

/// A connect session request, parsed.
#[derive(Debug)]
pub struct NewConnectSession {
    target: SessionTarget,
    group_name: Option<DisplayName>,
    consumer_name: Option<DisplayName>,
    return_to: ReturnTo,
    ttl: SessionTtl,
}

impl NewConnectSession {
    /// The session when every part parsed, or every issue found.
    pub fn new(
        target: Option<SessionTarget>,
        names: (Option<DisplayName>, Option<DisplayName>),
        return_to: ReturnTo,
        ttl: Option<SessionTtl>,
        issues: Vec<FieldIssue>,
    ) -> DomainResult<Self> {
        let session = target.zip(ttl).map(|(target, ttl)| NewConnectSession {
            target,
            group_name: names.0,
            consumer_name: names.1,
            return_to,
            ttl,
        });
        finish(session, issues)
    }
}

impl Grantd {
    /// Reads what a session request is checked against: the allowed
    /// origins, and either the connection to re-authorize or which of the
    /// named providers have a default app.
    pub async fn connect_session_context(
        &self,
        project_id: &str,
        connection_id: Option<&str>,
        providers: Option<&[String]>,
    ) -> DomainResult<SessionContext> {
        let allowed = self.store().list_allowed_origins(project_id).await?;
        let mut with_default_app = BTreeSet::new();
        let reauthorized = match connection_id {
            Some(id) => Some(self.reauthorized(project_id, id).await?),
            None => {
                // A list too long to offer is refused without a lookup.
                let providers = providers.filter(|p| p.len() <= MAX_PROVIDERS);
                for name in providers.unwrap_or_default() {
                    let name = self.catalog().canonical(name.clone());
                    if self.has_default_app(project_id, &name).await? {
                        with_default_app.insert(name);
                    }
                }
                None
            }
        };
        Ok(SessionContext {
            allowed,
            with_default_app,
            reauthorized,
        })
    }

    /// Whether a known provider with an authorization code flow has a
    /// default app in the project (the session's flows use it).
    async fn has_default_app(&self, project_id: &str, provider: &str) -> DomainResult<bool> {
        let flows = self
            .catalog()
            .get(provider)
            .is_some_and(|p| p.supports(AuthScheme::OAuth2AuthorizationCode));
        if !flows {
            return Ok(false);
        }
        match self.resolve_provider_app(project_id, provider, None).await {
            Ok(_) => Ok(true),
            Err(DomainError::Validation(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The connection a re-authorization session is for, or the issues
    /// (on `connectionId`) that say why it cannot be re-authorized.
    async fn reauthorized(
        &self,
        project_id: &str,
        connection_id: &str,
    ) -> DomainResult<Result<Reauthorized, Vec<FieldIssue>>> {
        let issue = |detail: String| FieldIssue::body("connectionId", connection_id, detail);
        match self.prepare_update(project_id, connection_id).await {
            Ok(prepared) => Ok(Ok(Reauthorized {
                connection_id: connection_id.to_owned(),
                provider: prepared.provider_name().to_owned(),
                group_ref: prepared.group_ref().to_owned(),
                consumer_ref: prepared.consumer_ref().to_owned(),
            })),
            Err(DomainError::NotFound { .. }) => Ok(Err(vec![issue(format!(
                "no connection {connection_id} in this project"
            ))])),
            Err(DomainError::Validation(found)) => {
                Ok(Err(found.into_iter().map(|i| issue(i.detail)).collect()))
            }
            Err(other) => Err(other),
        }
    }

    /// Stores a parsed session and mints its token.
    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    pub async fn create_connect_session(
        &self,
        project_id: &str,
        session: NewConnectSession,
    ) -> DomainResult<CreatedConnectSession> {
        let token = SecretString::new(format!("{TOKEN_PREFIX}{}", random_token()));
        let now = now_millis();
        let target = session.target;
        let row = ConnectSessionRow {
            id: uuid::Uuid::now_v7().to_string(),
            project_id: project_id.to_owned(),
            token_hash: sha256_hex(token.expose().as_bytes()),
            providers: target.providers,
            group_ref: target.group_ref,
            group_name: session.group_name.map(DisplayName::into_string),
            consumer_ref: target.consumer_ref,
            consumer_name: session.consumer_name.map(DisplayName::into_string),
            connection_id: target.connection_id,
            return_url: session.return_to.return_url.map(String::from),
            parent_origin: session.return_to.parent_origin,
            created_at: now,
            expires_at: now + session.ttl.0 * 1000,
            consumed_at: None,
            provider: None,
            result_status: None,
            result_connection_id: None,
            result_error: None,
            result_error_description: None,
            finished_at: None,
        };
        self.store().insert_connect_session(&row).await?;
        let url = self.connect_page_url(&row.id, token.expose());
        Ok(CreatedConnectSession {
            session: row.into(),
            token,
            url,
        })
    }

    /// `{public_url}/connect?sessionId={id}#token={token}`. The token is in
    /// the fragment, which browsers never send, so that no access log of
    /// grantd or of a proxy holds it; the page reads it and removes it from
    /// the address bar. The id (no secret) tells the server who may frame
    /// the page.
    fn connect_page_url(&self, id: &str, token: &str) -> String {
        let base = &self.settings().public_url;
        let mut url = base.clone();
        url.set_path(&format!("{}connect", base.path()));
        url.set_query(None);
        url.query_pairs_mut().append_pair("sessionId", id);
        let fragment = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        url.set_fragment(Some(&fragment));
        url.into()
    }
}
