//! Parsed field values the commands share: text that must be filled and
//! secrets that must not be empty. Only their `parse` makes them, so a
//! command holding one needs no presence check.

use crate::domain::error::{DomainError, DomainResult, FieldIssue};
use crate::secrets::SecretString;

/// Required text that is not blank (a username, a client id); kept as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled(String);

impl Filled {
    /// The value, or `None` with "`field` is required" recorded.
    pub fn parse(field: &str, value: Option<String>, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        let filled = value.filter(|v| !v.trim().is_empty()).map(Self);
        if filled.is_none() {
            issues.push(required(field));
        }
        filled
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A required secret that is not empty (an API key, a client secret).
#[derive(Debug, Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// The secret, or `None` with "`field` is required" recorded.
    pub fn parse(
        field: &str,
        value: Option<SecretString>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let filled = value.filter(|v| !v.is_empty()).map(Self);
        if filled.is_none() {
            issues.push(required(field));
        }
        filled
    }

    pub fn get(&self) -> &SecretString {
        &self.0
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

/// "`field` is required", the value absent.
pub fn required(field: &str) -> FieldIssue {
    FieldIssue::body(
        field,
        serde_json::Value::Null,
        format!("{field} is required"),
    )
}

/// The command a parse built, or every issue it found on the way. A parse
/// that built nothing and found nothing wrong is a bug, named.
pub fn finish<T>(command: Option<T>, issues: Vec<FieldIssue>) -> DomainResult<T> {
    match command {
        Some(command) if issues.is_empty() => Ok(command),
        _ if issues.is_empty() => Err(DomainError::Invariant(
            "a request failed to parse without an issue",
        )),
        _ => Err(DomainError::Validation(issues)),
    }
}

/// An optional field's parse, for building a command with `?`: `Some(None)`
/// when the field was not sent, `None` when it was sent and did not parse.
pub fn optional<T>(parsed: Option<Option<T>>) -> Option<Option<T>> {
    match parsed {
        None => Some(None),
        Some(value) => value.map(Some),
    }
}
