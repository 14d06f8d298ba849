use crate::secrets::CipherError;
use crate::storage::StoreError;
use serde_json::Value;

/// Where an invalid input was found, as RFC 9457 `issues[].in` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputLocation {
    Body,
    Query,
    Path,
    Header,
}

/// One invalid input: which field, what value, what is wrong with it.
#[derive(Debug, Clone)]
pub struct FieldIssue {
    pub location: InputLocation,
    pub name: String,
    pub value: Value,
    pub detail: String,
}

impl FieldIssue {
    pub fn body(
        name: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            location: InputLocation::Body,
            name: name.into(),
            value: value.into(),
            detail: detail.into(),
        }
    }
}

/// Longest ref accepted; longer values are almost surely mistakes.
pub const MAX_REF_LEN: usize = 256;

/// Checks a required identifier such as `groupRef`: present, not blank, bounded.
pub fn required_ref(field: &str, value: Option<&str>, issues: &mut Vec<FieldIssue>) {
    match value.map(str::trim) {
        None => issues.push(FieldIssue::body(
            field,
            Value::Null,
            format!("{field} is required"),
        )),
        Some("") => issues.push(FieldIssue::body(
            field,
            "",
            format!("{field} must not be empty"),
        )),
        Some(v) if v.len() > MAX_REF_LEN => issues.push(FieldIssue::body(
            field,
            v,
            format!("{field} is longer than {MAX_REF_LEN} characters"),
        )),
        _ => {}
    }
}

/// An error from the token endpoint of a provider, classified so callers can
/// tell a refused grant from an outage.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with an OAuth error (RFC 6749 §5.2) or a 4xx.
    #[error("provider rejected the request: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// 5xx or 429: worth retrying later.
    #[error("provider unavailable (HTTP {status})")]
    Unavailable {
        status: u16,
        retry_after: Option<u64>,
    },
    #[error("could not reach the provider: {0}")]
    Network(String),
    #[error("provider sent an unusable token response: {0}")]
    InvalidResponse(String),
}

/// The domain's one error type; the HTTP layer maps it to problem+json once.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("invalid input")]
    Validation(Vec<FieldIssue>),
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller's credential lacks this scope.
    #[error("the credential lacks the scope {0}")]
    MissingScope(super::scopes::Scope),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Storage(StoreError),
    #[error("stored secret could not be decrypted: {0}")]
    Crypto(#[from] CipherError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(issue: FieldIssue) -> Self {
        DomainError::Validation(vec![issue])
    }

    pub fn not_found(resource: &'static str) -> Self {
        DomainError::NotFound { resource }
    }
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => {
                // The database's wording names tables and columns; keep it in the log.
                tracing::debug!(conflict = %what, "storage conflict");
                DomainError::Conflict("conflicts with an existing resource".into())
            }
            other => DomainError::Storage(other),
        }
    }
}

/// Turns a store's `NotFound` into the domain's, naming the resource.
pub trait OrNotFound<T> {
    fn or_not_found(self, resource: &'static str) -> Result<T, DomainError>;
}

impl<T> OrNotFound<T> for Result<T, StoreError> {
    fn or_not_found(self, resource: &'static str) -> Result<T, DomainError> {
        match self {
            Err(StoreError::NotFound) => Err(DomainError::not_found(resource)),
            other => other.map_err(DomainError::from),
        }
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
