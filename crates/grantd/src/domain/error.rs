//! The domain's one error type and the policy for it: a variant per thing
//! a caller can act on (bad input, missing, conflicting, provider refused,
//! database down), and for grantd's own failures a variant that keeps the
//! underlying error as its `source`, never a string of it, so the log shows
//! the whole chain. The HTTP layer maps these to problem+json once.

use crate::secrets::CipherError;
use crate::storage::{Constraint, StoreError};
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

/// Checks a required identifier such as `groupRef`: present, not blank,
/// bounded, and made of characters that display as what they are.
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
        Some(_) => {
            check_text(field, value.unwrap_or_default(), issues);
        }
    }
}

/// An optional display name such as `groupName`: bounded, made of
/// characters that display as what they are; blank counts as absent.
pub fn optional_name(
    field: &str,
    value: Option<&str>,
    issues: &mut Vec<FieldIssue>,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    if value.len() > MAX_REF_LEN {
        issues.push(FieldIssue::body(
            field,
            Value::Null,
            format!("{field} is longer than {MAX_REF_LEN} characters"),
        ));
        return None;
    }
    check_text(field, value, issues).then(|| value.to_owned())
}

/// The one check of user text that grantd stores as a name, ref or label:
/// it may not carry control characters (NUL, which PostgreSQL cannot store,
/// line breaks, escapes), bidirectional overrides and isolates (which make
/// text display in another order than it is stored) or invisible characters
/// (which make two different values look the same). Records an issue naming
/// `field` and the first such character; returns whether `value` is clean.
pub fn check_text(field: &str, value: &str, issues: &mut Vec<FieldIssue>) -> bool {
    let Some((position, c, kind)) = value
        .chars()
        .enumerate()
        .find_map(|(i, c)| unprintable(c).map(|kind| (i, c, kind)))
    else {
        return true;
    };
    issues.push(FieldIssue::body(
        field,
        value,
        format!(
            "{field} contains U+{:04X} ({kind}) at character {position}; \
             control, bidirectional-override and invisible characters are refused",
            u32::from(c)
        ),
    ));
    false
}

/// What makes a character unfit for a stored name, if anything.
fn unprintable(c: char) -> Option<&'static str> {
    match c {
        c if c.is_control() => Some("a control character"),
        '\u{2028}' | '\u{2029}' => Some("a line separator"),
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Some("a bidirectional formatting character"),
        '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        | '\u{180E}'
        | '\u{00AD}' => Some("an invisible character"),
        '\u{E0000}'..='\u{E007F}' => Some("an invisible tag character"),
        _ => None,
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

/// Why a call through the proxy did not get the provider's answer.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The connection's provider has no API base grantd may send its
    /// credentials to.
    #[error("provider {provider} cannot be called through the proxy: the catalog has no fixed API base for it")]
    NotProxyable { provider: String },
    /// `X-Amp-Rate-Limiter-Mode: throttle` and the provider asked to wait.
    #[error("the provider limited this connection's calls; retry in {} s", retry_after.as_secs_f64().ceil())]
    Throttled { retry_after: std::time::Duration },
    #[error("request bodies through the proxy are limited to {limit} bytes")]
    BodyTooLarge { limit: u64 },
    /// Connect, first-byte or total timeout; says which.
    #[error("{0}")]
    Timeout(String),
    /// No connection, TLS failure, broken exchange. Never carries the URL,
    /// whose query may hold an API key.
    #[error("could not reach the provider: {0}")]
    Unreachable(String),
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
    /// A unique key refused the write: `field` names the input that collided.
    #[error("conflict: {detail}")]
    Duplicate {
        field: &'static str,
        detail: String,
        #[source]
        source: StoreError,
    },
    /// The caller's credential lacks this scope.
    #[error("the credential lacks the scope {0}")]
    MissingScope(crate::domain::scopes::Scope),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The database did not answer (pool exhausted, connection refused):
    /// worth retrying, unlike every other storage failure.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] StoreError),
    #[error(transparent)]
    Storage(StoreError),
    #[error("stored secret could not be decrypted: {0}")]
    Crypto(#[from] CipherError),
    /// Credentials that do not serialize, or stored ones that do not parse
    /// after decryption.
    #[error("credentials do not encode: {0}")]
    CredentialsEncoding(#[source] serde_json::Error),
    /// A URL built from the catalog's templates does not parse.
    #[error("bad provider URL {url}: {source}")]
    ProviderUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
    /// A decrypted secret is not UTF-8 text.
    #[error("the stored {what} is not UTF-8")]
    SecretNotText {
        what: &'static str,
        #[source]
        source: std::string::FromUtf8Error,
    },
    /// The catalog lacks what an operation needs of a provider (a check
    /// at load should have caught it).
    #[error("{provider} has no {missing}")]
    CatalogIncomplete {
        provider: String,
        missing: &'static str,
    },
    #[error("unclosed placeholder in {template}")]
    CatalogTemplate { template: String },
    #[error(transparent)]
    OAuthClient(#[from] OAuthClientError),
    /// Something that cannot happen did: a bug, named.
    #[error("internal error: {0}")]
    Invariant(&'static str),
}

/// Why a connection has no OAuth client to talk to its provider as.
#[derive(Debug, thiserror::Error)]
pub enum OAuthClientError {
    #[error("the connection has no provider app")]
    NoProviderApp,
    #[error("provider app unavailable: {0}")]
    AppUnavailable(#[source] Box<DomainError>),
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
            StoreError::Conflict {
                constraint: Constraint::ProjectName,
                ..
            } => DomainError::Duplicate {
                field: "name",
                detail: "a project with this name exists".into(),
                source: error,
            },
            StoreError::Conflict {
                constraint: Constraint::DefaultProviderApp,
                ..
            } => DomainError::Duplicate {
                field: "isDefault",
                detail: "the provider already has a default provider app in this project".into(),
                source: error,
            },
            StoreError::Conflict { message, .. } => {
                // The database's wording names tables and columns; keep it in the log.
                tracing::debug!(conflict = %message, "storage conflict");
                DomainError::Conflict("conflicts with an existing resource".into())
            }
            unavailable @ StoreError::Unavailable(_) => DomainError::Unavailable(unavailable),
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

impl From<crate::domain::scopes::MissingScope> for DomainError {
    fn from(missing: crate::domain::scopes::MissingScope) -> Self {
        DomainError::MissingScope(missing.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(value: &str) -> bool {
        let mut issues = Vec::new();
        !check_text("groupName", value, &mut issues)
    }

    #[test]
    fn names_in_any_script_with_emoji_and_punctuation_pass() {
        for value in [
            "Acme, Inc.",
            "Ünïcödé GmbH",
            "株式会社",
            "O'Brien & Sons 🚀",
            "a-b_c.d/e",
        ] {
            assert!(!refused(value), "{value:?}");
        }
    }

    #[test]
    fn control_bidi_and_invisible_characters_are_refused() {
        for value in [
            "nul\0",
            "line\nbreak",
            "tab\t",
            "esc\u{1b}[31m",
            "c1\u{85}",
            "\u{202E}txt.exe",
            "\u{2066}isolate\u{2069}",
            "rl\u{200F}m",
            "zero\u{200B}width",
            "zw\u{200D}j",
            "word\u{2060}joiner",
            "\u{FEFF}bom",
            "tag\u{E0041}",
            "para\u{2029}sep",
        ] {
            assert!(refused(value), "{value:?}");
        }
    }

    #[test]
    fn the_issue_names_the_field_and_the_character() {
        let mut issues = Vec::new();
        check_text("consumerRef", "ab\u{202E}c", &mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].name, "consumerRef");
        assert!(issues[0].detail.contains("U+202E"), "{}", issues[0].detail);
        assert!(
            issues[0].detail.contains("character 2"),
            "{}",
            issues[0].detail
        );
    }
}
