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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_built_only_without_issues() {
        assert_eq!(finish(Some(1), Vec::new()).unwrap(), 1);
        let issue = required("name");
        assert!(matches!(
            finish(Some(1), vec![issue.clone()]),
            Err(DomainError::Validation(found)) if found.len() == 1
        ));
        assert!(matches!(
            finish::<u8>(None, Vec::new()),
            Err(DomainError::Invariant(_))
        ));
    }

    #[test]
    fn an_optional_field_is_absent_parsed_or_spoils_the_command() {
        assert_eq!(optional::<u8>(None), Some(None));
        assert_eq!(optional(Some(Some(2))), Some(Some(2)));
        assert_eq!(optional::<u8>(Some(None)), None);
    }

    #[test]
    fn blank_text_and_empty_secrets_are_missing() {
        let mut issues = Vec::new();
        assert!(Filled::parse("clientId", Some("  ".into()), &mut issues).is_none());
        assert!(Secret::parse("apiKey", Some(SecretString::default()), &mut issues).is_none());
        assert_eq!(
            Filled::parse("clientId", Some(" id ".into()), &mut issues).map(Filled::into_string),
            Some(" id ".to_owned()),
            "kept as given"
        );
        let names: Vec<&str> = issues.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["clientId", "apiKey"]);
    }
}
