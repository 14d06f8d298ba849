//! Caller authentication: `X-Api-Key` or `Authorization: Bearer <JWT>`.
//! Either way the caller is bound to exactly one project and holds a set of
//! scopes. Every `/v1/projects/{projectIdOrName}/…` handler names the scope
//! it needs in its signature, through the [`ProjectAccess`] extractor, so
//! no handler can forget the check or get it subtly different.

use super::extract::PathParams;
use super::problem::ApiError;
use crate::domain::model::Project;
use crate::domain::{Authenticated, CredentialAccess, DomainError, Grantd, Scope, Scopes};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::marker::PhantomData;

pub const API_KEY_HEADER: &str = "x-api-key";

/// The authenticated caller, the project its credential belongs to and
/// the scopes it holds.
#[derive(Debug, Clone)]
pub struct Caller {
    project: Project,
    pub scopes: Scopes,
}

impl From<Authenticated> for Caller {
    fn from(found: Authenticated) -> Self {
        Caller {
            project: found.project,
            scopes: found.scopes,
        }
    }
}

impl Caller {
    /// The project named in the path, if it is the caller's and the caller
    /// holds `scope` there. Another project's resources answer 404, never
    /// 403, so ids do not leak; a missing scope in its own project is a 403
    /// naming the scope.
    fn authorize(&self, id_or_name: &str, scope: Scope) -> Result<&Project, ApiError> {
        if self.project.id != id_or_name && self.project.name != id_or_name {
            return Err(DomainError::not_found("project").into());
        }
        self.scopes.require(scope)?;
        Ok(&self.project)
    }

    /// The caller's own project, for routes that name it in the body; the
    /// domain compares it with the body's.
    pub fn own_project(&self, scope: Scope) -> Result<&Project, ApiError> {
        self.scopes.require(scope)?;
        Ok(&self.project)
    }

    /// The caller's project, whatever the scopes: for decisions that are
    /// not access (CORS headers).
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// How much of a connection's credentials this caller may see.
    pub fn credential_access(&self) -> CredentialAccess {
        self.scopes.credential_access()
    }
}

impl FromRequestParts<Grantd> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        grantd: &Grantd,
    ) -> Result<Self, Self::Rejection> {
        // The CORS layer may have authenticated this request already.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        authenticate(grantd, &parts.headers).await
    }
}

/// The caller a request's credential names: `X-Api-Key` first, then
/// `Authorization: Bearer <JWT>`.
pub async fn authenticate(
    grantd: &Grantd,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, ApiError> {
    if let Some(key) = headers.get(API_KEY_HEADER) {
        let key = key
            .to_str()
            .map_err(|_| ApiError::Unauthenticated("invalid API key"))?;
        return match grantd.authenticate_api_key(key.trim()).await? {
            Some(found) => Ok(found.into()),
            None => Err(ApiError::Unauthenticated("invalid API key")),
        };
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthenticated(
                "unsupported Authorization scheme",
            ))?;
        return match grantd.authenticate_jwt(token.trim()).await? {
            Some(found) => Ok(found.into()),
            None => Err(ApiError::Unauthenticated("invalid or expired bearer token")),
        };
    }
    Err(ApiError::Unauthenticated("no credentials"))
}

/// A scope a handler needs, as a type, so that the handler's signature
/// states it and the extractor checks it before the handler runs.
pub trait RequiredScope {
    const SCOPE: Scope;
}

/// The scope markers of [`ProjectAccess`].
pub mod scope {
    use super::{RequiredScope, Scope};

    /// `connections:read`: read everything but secrets.
    pub struct ConnectionsRead;
    /// `manage`: create, change and delete.
    pub struct Manage;
    /// `api-keys:manage`: the project's API keys.
    pub struct ApiKeysManage;

    impl RequiredScope for ConnectionsRead {
        const SCOPE: Scope = Scope::ConnectionsRead;
    }
    impl RequiredScope for Manage {
        const SCOPE: Scope = Scope::Manage;
    }
    impl RequiredScope for ApiKeysManage {
        const SCOPE: Scope = Scope::ApiKeysManage;
    }
}

/// A path under `/v1/projects/{projectIdOrName}`: it names the project.
pub trait InProject {
    fn project_id_or_name(&self) -> &str;
}

/// The path of a route on the project itself.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectPath {
    pub project_id_or_name: String,
}

impl InProject for ProjectPath {
    fn project_id_or_name(&self) -> &str {
        &self.project_id_or_name
    }
}

/// The authenticated caller, inside the project its path names, holding
/// scope `S`; `P` is the route's path. Extracting it answers 401 without
/// credentials, 400 for a malformed path, 404 when the path names another
/// project (ids do not leak) and 403 naming the scope when it is missing.
/// Being an extractor, it is checked before the query and body are read:
/// a request outside the caller's reach is refused whatever it carries.
pub struct ProjectAccess<S, P = ProjectPath> {
    pub caller: Caller,
    pub path: P,
    scope: PhantomData<S>,
}

impl<S: RequiredScope, P: InProject> ProjectAccess<S, P> {
    /// For the rare handler that must look at the path before it knows it
    /// is a route at all (`…/{connectionId}:oauth-update`).
    pub fn check(caller: Caller, path: P) -> Result<Self, ApiError> {
        caller.authorize(path.project_id_or_name(), S::SCOPE)?;
        Ok(ProjectAccess {
            caller,
            path,
            scope: PhantomData,
        })
    }
}

impl<S, P> ProjectAccess<S, P> {
    /// The caller's project, which the path named.
    pub fn project(&self) -> &Project {
        &self.caller.project
    }

    /// A further scope, for what a request asks beyond the route's own
    /// (`includeCredentials=true`).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        Ok(self.caller.scopes.require(scope)?)
    }
}

impl<S, P> FromRequestParts<Grantd> for ProjectAccess<S, P>
where
    S: RequiredScope + Send,
    P: InProject + DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        grantd: &Grantd,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, grantd).await?;
        let PathParams(path) = PathParams::<P>::from_request_parts(parts, grantd).await?;
        Self::check(caller, path)
    }
}

/// The `Origin` of a browser caller, when it is a well-formed origin; the
/// callback page reports to exactly this origin.
pub fn caller_origin(parts_headers: &axum::http::HeaderMap) -> Option<String> {
    let origin = parts_headers.get(header::ORIGIN)?.to_str().ok()?;
    let parsed = url::Url::parse(origin).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    Some(parsed.origin().ascii_serialization())
}

/// The value of one cookie of a request, from any of its `Cookie` headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// The connect page's credential: its session token, sent as
/// `Authorization: Bearer gcs_…` (never in a query string, which would end
/// up in logs).
pub struct SessionToken(pub crate::secrets::SecretString);

impl<S: Send + Sync> FromRequestParts<S> for SessionToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| SessionToken(crate::secrets::SecretString::new(t)))
            .ok_or(ApiError::Unauthenticated(
                "send the connect session token in Authorization: Bearer",
            ))
    }
}
